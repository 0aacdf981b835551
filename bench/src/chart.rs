//! A small SVG of the order path's throughput per backend, written beside the JSON
//! result: one panel per backend, a bar per operation, the same-run floor (hand-written
//! SQL) as a dashed reference line. Hand-written: a chart library would be a large
//! dependency for six bars.

use serde_json::Value;
use std::fmt::Write;

const W: f64 = 380.0;
const H: f64 = 300.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 90.0;

/// (label, path in the backend's result, key) of each bar.
const BARS: [(&str, &str, &str); 5] = [
    ("POST /sales-orders", "/orders/empty/create_order_5_lines", "req_per_s"),
    ("order path", "/orders/empty/order_5_lines", "orders_per_s"),
    ("order path, 1 client", "/orders/empty/order_5_lines_one_client", "orders_per_s"),
    ("order path, history", "/orders/history/measured/order_5_lines", "orders_per_s"),
    ("create, history", "/orders/history/measured/create_order_5_lines", "req_per_s"),
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn panel(out: &mut String, x0: f64, name: &str, r: &Value) {
    let floor = r.pointer("/orders/floor/concurrent/tx_per_s").and_then(Value::as_f64).unwrap_or(0.0);
    let floor1 = r.pointer("/orders/floor/one_client/tx_per_s").and_then(Value::as_f64).unwrap_or(0.0);
    let bars: Vec<(&str, f64)> =
        BARS.iter().map(|(l, p, k)| (*l, r.pointer(p).and_then(|v| v[*k].as_f64()).unwrap_or(0.0))).collect();
    let max = bars.iter().map(|b| b.1).fold(floor.max(floor1), f64::max).max(1.0) * 1.1;
    let plot = H - TOP - BOTTOM;
    let y = |v: f64| TOP + plot - v / max * plot;
    let _ = write!(out, r#"<text x="{}" y="22" font-size="15" font-weight="bold">{}</text>"#, x0 + 10.0, esc(name));
    let bw = (W - 40.0) / bars.len() as f64;
    for (i, (label, v)) in bars.iter().enumerate() {
        let x = x0 + 20.0 + i as f64 * bw;
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#4a7fb5"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{v:.0}</text><text transform="translate({:.1},{:.1}) rotate(35)" font-size="10">{}</text>"##,
            y(*v),
            bw * 0.7,
            TOP + plot - y(*v),
            x + bw * 0.35,
            y(*v) - 4.0,
            x + bw * 0.1,
            H - BOTTOM + 14.0,
            esc(label)
        );
    }
    for (v, label, dash) in [(floor, "floor, 8 clients", "6,4"), (floor1, "floor, 1 client", "2,3")] {
        if v > 0.0 {
            let _ = write!(
                out,
                r##"<line x1="{}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#c0392b" stroke-dasharray="{dash}"/><text x="{}" y="{:.1}" font-size="10" fill="#c0392b" text-anchor="end">{label}: {v:.0}/s</text>"##,
                x0 + 15.0,
                x0 + W - 10.0,
                y(v),
                y(v),
                x0 + W - 10.0,
                y(v) - 3.0
            );
        }
    }
}

/// The chart for every backend in the result that has an order-path section.
pub fn svg(all: &Value) -> String {
    let backends: Vec<(&String, &Value)> =
        all.as_object().into_iter().flatten().filter(|(_, r)| r.pointer("/orders/empty").is_some()).collect();
    let width = W * backends.len().max(1) as f64;
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="10" y="{}" font-size="10" fill="#555">5-line orders per second at 8 clients unless said; order path = create, submit, approve, confirm</text>"##,
        H + 16.0,
        H + 8.0
    );
    for (i, (name, r)) in backends.iter().enumerate() {
        panel(&mut out, i as f64 * W, name, r);
    }
    out.push_str("</svg>\n");
    out
}
