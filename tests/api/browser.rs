//! A real browser (headless Chromium from Debian's packages) on a page served from
//! another local origin logs in and lists customers through CORS; a page from an
//! origin that is not configured is refused by the browser.

use crate::support::{Kind, TestApp};
use actix_web::{web, HttpResponse, HttpServer};
use serde_json::json;

fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| std::path::Path::new(p).exists())
}

/// The page: log in with the password grant, list customers, write what it got.
fn page(api: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html><body><pre id="out">running</pre><script>
(async () => {{
  const out = document.getElementById("out");
  try {{
    const t = await fetch("{api}/api/v1/auth/token", {{method: "POST",
      headers: {{"Content-Type": "application/x-www-form-urlencoded"}},
      body: "grant_type=password&username=root&password=root-password"}});
    const tok = await t.json();
    const r = await fetch("{api}/api/v1/customers?limit=5", {{headers: {{"Authorization": "Bearer " + tok.access_token}}}});
    const page = await r.json();
    out.textContent = "customers: " + page.data.map(c => c.name).join(",") + " etag: " + (r.headers.get("ETag") ? "yes" : "no");
  }} catch (e) {{
    out.textContent = "blocked: " + e;
  }}
}})();
</script></body></html>"#
    )
}

/// Serves `html` at `/` on a free port; returns the origin.
fn serve_page(html: String) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = HttpServer::new(move || {
        let html = html.clone();
        actix_web::App::new().route(
            "/",
            web::get().to(move || {
                let html = html.clone();
                async move { HttpResponse::Ok().content_type("text/html").body(html) }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    origin
}

/// What the page shows once its script ran.
async fn visit(url: String) -> String {
    let bin = chromium().unwrap();
    let profile = std::env::temp_dir().join(format!("ordo-chromium-{}", uuid::Uuid::new_v4()));
    let out = actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new(bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                &format!("--user-data-dir={}", profile.display()),
                "--virtual-time-budget=15000",
                "--dump-dom",
                &url,
            ])
            .output()
    })
    .await
    .unwrap()
    .expect("start chromium");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[actix_web::test]
async fn a_browser_page_on_an_allowed_origin_lists_customers() {
    if chromium().is_none() {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "Chromium is required in CI (.ci/run installs it)");
        eprintln!("SKIPPED: no Chromium (apt-get install chromium)");
        return;
    }
    // The page's origin must be known before the API starts: serve a placeholder
    // port first, then the page that names the API.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let allowed = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    drop(listener);
    let Some(app) = TestApp::start_with_origins(Kind::Sqlite, vec![allowed.clone()]).await else { return };
    app.post("/api/v1/customers", &app.admin_token, json!({"name": "Seen from a browser", "currency": "EUR"})).await;
    let html = page(&app.base);
    // Bind the page server on the origin the API allows.
    let port: u16 = allowed.rsplit(':').next().unwrap().parse().unwrap();
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let page_html = html.clone();
    let server = HttpServer::new(move || {
        let html = page_html.clone();
        actix_web::App::new().route(
            "/",
            web::get().to(move || {
                let html = html.clone();
                async move { HttpResponse::Ok().content_type("text/html").body(html) }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    let dom = visit(format!("{allowed}/")).await;
    assert!(dom.contains("customers: Seen from a browser etag: yes"), "{dom}");
    // A page from another origin is refused by the browser.
    let other = serve_page(html);
    let dom = visit(format!("{other}/")).await;
    assert!(dom.contains("blocked:"), "{dom}");
}
