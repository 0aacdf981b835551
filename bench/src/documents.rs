//! Documents and the outbox: PDF rendering of a 20-line invoice and of a statement
//! (latency and statements per request), and how fast the outbox drains into local
//! receivers started here: webhooks into a small HTTP sink, mail into a small SMTP
//! sink (each mailed invoice typeset as PDF on the way).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{get_json, measure, send};

/// Accepts connections on `listener` and serves each on its own thread.
fn serve(listener: TcpListener, handle: fn(TcpStream, &AtomicUsize) -> std::io::Result<()>) -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || handle(stream, &seen));
        }
    });
    count
}

/// An SMTP server that accepts every message and counts them (plain text, no auth).
pub fn smtp_sink(port: u16) -> Arc<AtomicUsize> {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the SMTP sink");
    serve(listener, |stream, seen| {
        let mut out = stream.try_clone()?;
        let mut lines = BufReader::new(stream);
        out.write_all(b"220 bench ESMTP\r\n")?;
        let mut line = String::new();
        while {
            line.clear();
            lines.read_line(&mut line)? > 0
        } {
            let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
            let answer: &[u8] = match verb.as_str() {
                "DATA" => {
                    out.write_all(b"354 go on\r\n")?;
                    loop {
                        line.clear();
                        if lines.read_line(&mut line)? == 0 || line == ".\r\n" {
                            break;
                        }
                    }
                    seen.fetch_add(1, Ordering::SeqCst);
                    b"250 queued\r\n"
                }
                "QUIT" => {
                    out.write_all(b"221 bye\r\n")?;
                    return Ok(());
                }
                _ => b"250 ok\r\n",
            };
            out.write_all(answer)?;
        }
        Ok(())
    })
}

/// An HTTP server that answers every request 204 and counts them (keep-alive).
pub fn http_sink() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook sink");
    let port = listener.local_addr().unwrap().port();
    let count = serve(listener, |stream, seen| {
        let mut out = stream.try_clone()?;
        let mut r = BufReader::new(stream);
        loop {
            let mut length = 0usize;
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            r.read_exact(&mut body)?;
            seen.fetch_add(1, Ordering::SeqCst);
            out.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")?;
        }
    });
    (port, count)
}

/// Runs a job until the receiver has `want` more messages; the rate per second.
async fn drain(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    job: &str,
    want: usize,
    received: impl Fn() -> usize,
) -> Value {
    let started = Instant::now();
    let mut runs = 0;
    while received() < want && started.elapsed() < Duration::from_secs(300) {
        let r = client.post(format!("{base}/api/v1/jobs/{job}/run")).header("authorization", auth).send().await;
        runs += 1;
        // Another run holds the job (the process's own scheduler): wait a moment.
        if r.map(|r| r.status().as_u16() == 409).unwrap_or(true) {
            tokio_sleep(Duration::from_millis(20)).await;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let delivered = received();
    json!({"delivered": delivered, "expected": want, "seconds": (seconds * 100.0).round() / 100.0,
        "per_second": ((delivered as f64 / seconds) * 10.0).round() / 10.0, "job_runs": runs})
}

async fn tokio_sleep(d: Duration) {
    actix_web::rt::time::sleep(d).await;
}

pub async fn documents(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    first_item: i64,
    concurrency: usize,
    smtp: Option<&AtomicUsize>,
) -> Value {
    let post =
        |path: &str, body: Value| client.post(format!("{base}/api/v1{path}")).header("authorization", auth).json(&body);
    let customer = send(post(
        "/customers",
        json!({"name": "Bench documents", "currency": "EUR", "tax_id": "DE123456789",
            "billing_address": {"line1": "1 Bench Road", "city": "Berlin", "postal_code": "10115", "country": "DE"}}),
    ))
    .await["id"]
        .as_i64()
        .expect("customer");
    let lines: Vec<Value> =
        (0..20).map(|k| json!({"item_id": first_item + k * 13, "quantity": format!("{}", k + 1)})).collect();
    let invoice = send(post("/invoices", json!({"customer_id": customer, "lines": lines}))).await["id"]
        .as_i64()
        .expect("invoice");
    send(post(&format!("/invoices/{invoice}/post"), json!({}))).await;
    eprintln!("[documents] PDF of a 20-line invoice, a statement; outbox drains");
    let pdf = |path: String| {
        client.get(format!("{base}/api/v1{path}")).header("authorization", auth).header("accept", "application/pdf")
    };
    let invoice_pdf = measure(client, 200, concurrency, |_| pdf(format!("/invoices/{invoice}/document"))).await;
    let invoice_pdf_1 = measure(client, 50, 1, |_| pdf(format!("/invoices/{invoice}/document"))).await;
    let statement = format!("/customers/{customer}/statement?from=2026-01-01&to=2030-12-31");
    let statement_pdf = measure(client, 100, concurrency, |_| pdf(statement.clone())).await;
    // While PDFs are typeset, the async workers still answer at once (the blocking pool
    // does the typesetting): health checks measured during a PDF burst.
    let burst = measure(client, 200, concurrency, |_| pdf(format!("/invoices/{invoice}/document")));
    let health = async {
        tokio_sleep(Duration::from_millis(200)).await;
        measure(client, 200, 1, |_| client.get(format!("{base}/healthz"))).await
    };
    let (_, healthz_during_pdfs) = futures_util::future::join(burst, health).await;

    // Webhooks: 1,000 events queued for a paused subscription, then drained into the
    // sink once it is active again (so the process's own scheduler does not deliver
    // them while they are being made).
    let (port, hooks) = http_sink();
    let hook = send(post(
        "/webhooks",
        json!({"url": format!("http://127.0.0.1:{port}/hook"), "event_types": ["customer.created"]}),
    ))
    .await["id"]
        .as_i64()
        .expect("webhook");
    let set_active = |on: bool| {
        client
            .patch(format!("{base}/api/v1/webhooks/{hook}"))
            .header("authorization", auth)
            .json(&json!({"active": on}))
    };
    send(set_active(false)).await;
    let n = 1000;
    measure(client, n, concurrency, |i| post("/customers", json!({"name": format!("Hooked {i}"), "currency": "EUR"})))
        .await;
    send(set_active(true)).await;
    let webhooks = drain(client, base, auth, "webhook_delivery", n, || hooks.load(Ordering::SeqCst)).await;

    // Mail: 100 posted invoices of a customer who wants them by e-mail, each typeset.
    let mail = match smtp {
        None => json!("skipped: no --smtp-port"),
        Some(sent) => {
            let before = sent.load(Ordering::SeqCst);
            let mailed = send(post(
                "/customers",
                json!({"name": "Bench mail", "currency": "EUR", "email": "ap@bench.test", "invoice_delivery": "email"}),
            ))
            .await["id"]
                .as_i64()
                .expect("customer");
            let m = 100;
            let five: Vec<Value> = (0..5).map(|k| json!({"item_id": first_item + k, "quantity": "1"})).collect();
            let created = measure(client, m, concurrency, |_| {
                post("/invoices", json!({"customer_id": mailed, "lines": five.clone()}))
            })
            .await;
            assert_eq!(created["errors"], 0, "{created}");
            let drafts =
                get_json(client, &format!("{base}/api/v1/invoices?customer_id={mailed}&status=draft&limit=200"), auth)
                    .await;
            let ids: Vec<i64> = drafts["data"].as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()).collect();
            // Timed from the first posting (the scheduler may start mailing meanwhile):
            // posted, typeset and handed to SMTP.
            let started = Instant::now();
            measure(client, ids.len(), concurrency, |i| post(&format!("/invoices/{}/post", ids[i]), json!({}))).await;
            let mut v = drain(client, base, auth, "email_delivery", m, || sent.load(Ordering::SeqCst) - before).await;
            let seconds = started.elapsed().as_secs_f64();
            v["seconds_from_first_posting"] = json!((seconds * 100.0).round() / 100.0);
            v["per_second"] = json!(((m as f64 / seconds) * 10.0).round() / 10.0);
            v
        }
    };
    json!({
        "invoice_pdf_20_lines": invoice_pdf,
        "invoice_pdf_20_lines_one_client": invoice_pdf_1,
        "statement_pdf": statement_pdf,
        "healthz_during_pdf_burst": healthz_during_pdfs,
        "webhook_delivery_1000_events": webhooks,
        "mail_100_posted_invoices_with_pdf": mail,
    })
}
