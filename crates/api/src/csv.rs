//! `Accept: text/csv` on every list: the rows of every page, streamed as one CSV
//! file (RFC 4180, UTF-8, CRLF). Columns are the list item's properties in the
//! OpenAPI document, in its order, so a file's columns never depend on which rows
//! happen to be in it; nested objects and arrays are JSON text in their cell.

use actix_web::http::header;
use actix_web::HttpRequest;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Whether the caller asked for CSV: `text/csv` is the most preferred of what a list
/// can answer (`Accept` quality values count; on a tie the first listed wins).
pub fn wanted(req: &HttpRequest) -> bool {
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut best: Option<(u32, bool)> = None;
    for m in accept.split(',') {
        let mut parts = m.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let csv = media == "text/csv";
        if !(csv || ["application/json", "application/*", "*/*"].contains(&media.as_str())) {
            continue;
        }
        // q in thousandths, without floats.
        let q = parts
            .find_map(|p| p.strip_prefix("q="))
            .and_then(|q| q.parse::<rust_decimal::Decimal>().ok())
            .map_or(1000, |q| (q * rust_decimal::Decimal::from(1000)).trunc().try_into().unwrap_or(0u32));
        if q > 0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, csv));
        }
    }
    best.is_some_and(|(_, csv)| csv)
}

/// The columns of every paged list, by path template: the item schema's properties,
/// `allOf` parts in order.
pub fn columns_by_path(spec: &Value) -> HashMap<String, Vec<String>> {
    let schemas = &spec["components"]["schemas"];
    let mut out = HashMap::new();
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        let Some(page) = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].as_str()
        else {
            continue;
        };
        let page = &schemas[page.trim_start_matches("#/components/schemas/")];
        if page["properties"].get("next_cursor").is_none() {
            continue;
        }
        let mut cols = Vec::new();
        collect(schemas, &page["properties"]["data"]["items"], &mut cols);
        if !cols.is_empty() {
            out.insert(path.clone(), cols);
        }
    }
    out
}

fn collect(schemas: &Value, s: &Value, cols: &mut Vec<String>) {
    if let Some(r) = s["$ref"].as_str() {
        return collect(schemas, &schemas[r.trim_start_matches("#/components/schemas/")], cols);
    }
    for part in s["allOf"].as_array().into_iter().flatten() {
        collect(schemas, part, cols);
    }
    for k in s["properties"].as_object().into_iter().flat_map(|p| p.keys()) {
        if !cols.contains(k) {
            cols.push(k.clone());
        }
    }
}

/// The header line.
pub fn header_line(cols: &[String]) -> String {
    let mut line = cols.iter().map(|c| cell(&Value::String(c.clone()))).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// One line per row.
pub fn rows(cols: &[String], rows: &[Value], out: &mut String) {
    let empty = Map::new();
    for r in rows {
        let obj = r.as_object().unwrap_or(&empty);
        let cells: Vec<String> = cols.iter().map(|c| obj.get(c).map(cell).unwrap_or_default()).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
}

/// A cell: strings as they are (decimals stay exact strings), numbers and booleans
/// as JSON writes them, null empty, objects and arrays as JSON. Text that a
/// spreadsheet would run as a formula (`=`, `+`, `@`, `-` not followed by a number,
/// tab, CR) gets a leading `'` (OWASP CSV injection).
fn cell(v: &Value) -> String {
    let text = match v {
        Value::Null => return String::new(),
        Value::String(s) => {
            let risky = s.starts_with(['=', '+', '@', '\t', '\r'])
                || (s.starts_with('-') && s[1..].parse::<rust_decimal::Decimal>().is_err());
            if risky {
                format!("'{s}")
            } else {
                s.clone()
            }
        }
        Value::Bool(_) | Value::Number(_) => v.to_string(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_are_quoted_and_defused() {
        let cols: Vec<String> = ["a", "b", "c", "d", "e"].iter().map(|s| s.to_string()).collect();
        let mut out = String::new();
        rows(&cols, &[json!({"a": "x,\"y\"", "b": "-12.50", "c": "=SUM(A1)", "d": {"k": 1}, "e": null})], &mut out);
        assert_eq!(out, "\"x,\"\"y\"\"\",-12.50,'=SUM(A1),\"{\"\"k\"\":1}\",\r\n");
        let mut out = String::new();
        rows(&cols, &[json!({"a": "-x", "b": true, "c": 3})], &mut out);
        assert_eq!(out, "'-x,true,3,,\r\n");
    }
}
