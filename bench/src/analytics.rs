//! Reports over a large history: 1,000,000 order lines' sales facts over the last year
//! and 100,000 service tickets, seeded in bulk through the database (the documents
//! would take hours over HTTP), then the sales report by month × item group for a
//! year and by customer for a quarter, target attainment for the year, and the ticket
//! queue — timed over HTTP.

use serde_json::{json, Value};
use std::time::Instant;

use crate::{measure, send};

const FACTS: i64 = 1_000_000;
const TICKETS: i64 = 100_000;

/// Runs bulk-seeding statements in one transaction on the server's database.
pub(crate) fn exec(url: &str, statements: &[String]) {
    use diesel::RunQueryDsl;
    let db = ordo_db::Db::open(&ordo_db::DbConfig::parse(url, 1).expect("database url")).expect("open database");
    db.write(&ordo_db::Stats::default(), |c| {
        for s in statements {
            match c {
                ordo_db::DbConnection::Pg(c) => diesel::sql_query(s).execute(c)?,
                ordo_db::DbConnection::Sqlite(c) => diesel::sql_query(s).execute(c)?,
            };
        }
        if let ordo_db::DbConnection::Pg(c) = c {
            diesel::sql_query("ANALYZE").execute(c)?;
        }
        Ok(())
    })
    .expect("bulk seeding");
}

async fn post(client: &reqwest::Client, url: String, auth: &str, body: Value) -> i64 {
    send(client.post(url).header("authorization", auth).json(&body)).await["id"].as_i64().expect("an id")
}

pub async fn analytics(client: &reqwest::Client, base: &str, auth: &str, url: &str) -> Value {
    let api = format!("{base}/api/v1");
    let mut groups = vec![];
    for g in 0..10 {
        groups
            .push(post(client, format!("{api}/item-groups"), auth, json!({"name": format!("Bench group {g}")})).await);
    }
    let lead = post(client, format!("{api}/sales-persons"), auth, json!({"name": "Bench lead"})).await;
    let mut persons = vec![lead];
    for p in 1..10 {
        persons.push(
            post(
                client,
                format!("{api}/sales-persons"),
                auth,
                json!({"name": format!("Bench rep {p}"), "manager_id": lead}),
            )
            .await,
        );
    }
    let customer =
        post(client, format!("{api}/customers"), auth, json!({"name": "Bench service customer", "currency": "EUR"}))
            .await;
    let today = time::OffsetDateTime::now_utc().date();
    let year = today.year();
    // Targets: every rep per month of this year, and the team per quarter.
    for (n, p) in persons.iter().enumerate() {
        for m in 1..=12 {
            post(
                client,
                format!("{api}/sales-targets"),
                auth,
                json!({"name": format!("Rep {n} month {m}"), "period": format!("{year}-{m:02}"), "sales_person_id": p,
                    "measure": "amount", "basis": "orders", "value": "250000"}),
            )
            .await;
        }
    }
    for q in 1..=4 {
        post(
            client,
            format!("{api}/sales-targets"),
            auth,
            json!({"name": format!("Team Q{q}"), "period": format!("{year}-Q{q}"), "sales_person_id": lead,
                "include_team": true, "measure": "amount", "basis": "orders", "value": "7500000"}),
        )
        .await;
    }
    let pg = url.starts_with("postgres");
    let series = |n: i64| {
        if pg {
            format!("SELECT generate_series(1, {n}) AS n")
        } else {
            format!("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {n}) SELECT n FROM g")
        }
    };
    // Facts: 1,000,000 lines, 5 per order (each order on one day for one customer,
    // whose sales person it carries) over the last 365 days, 1,000 customers, 5,000
    // items in 10 groups and 10 sales persons.
    let (day, month) = if pg {
        (
            "CURRENT_DATE - CAST((s.n / 5) % 365 AS INTEGER)",
            "CAST(to_char(CURRENT_DATE - CAST((s.n / 5) % 365 AS INTEGER), 'YYYYMM') AS INTEGER)",
        )
    } else {
        (
            "date('now', '-' || ((s.n / 5) % 365) || ' days')",
            "CAST(strftime('%Y%m', date('now', '-' || ((s.n / 5) % 365) || ' days')) AS INTEGER)",
        )
    };
    let (gmin, pmin) = (groups[0], persons[0]);
    let now = "CURRENT_TIMESTAMP";
    let statements = [
        format!(
            "INSERT INTO sales_facts (basis, doc_id, line_id, doc_date, month, customer_id, sales_person_id, item_id, \
             item_group_id, quantity, net_base, cost_base, doc_first, group_first, item_first) \
             SELECT 'order', 10000000 + s.n / 5, 10000000 + s.n, {day}, {month}, 1 + (s.n / 5) % 1000, \
             {pmin} + (s.n / 5) % 10, 1 + s.n % 5000, {gmin} + s.n % 10, 10000 * (1 + s.n % 5), \
             100000 * (1 + s.n % 50), 60000 * (1 + s.n % 50), CASE WHEN s.n % 5 = 0 THEN 1 ELSE 0 END, 1, 1 \
             FROM ({}) s",
            series(FACTS)
        ),
        format!(
            "INSERT INTO tickets (number, customer_id, kind, subject, impact, urgency, priority, priority_set_by_hand, stage, \
             state, is_open, score, paused_minutes, sla_notified, version, created_by, created_at, updated_at) \
             SELECT 'BENCH-TCK-' || s.n, {customer}, 'question', 'Bench ticket', 'medium', 'medium', 'medium', (1 = 0), \
             CASE WHEN s.n % 10 = 0 THEN 'in_progress' ELSE 'closed' END, \
             CASE WHEN s.n % 10 = 0 THEN 'active' ELSE 'closed' END, (s.n % 10 = 0), s.n % 997, 0, 0, 1, 'bench', {now}, {now} \
             FROM ({}) s",
            series(TICKETS)
        ),
    ];
    let seeding = Instant::now();
    exec(url, &statements);
    let seed_seconds = seeding.elapsed().as_secs_f64();
    eprintln!("[analytics] {FACTS} order lines' facts and {TICKETS} tickets seeded in {seed_seconds:.1} s");
    let year_ago = (today - time::Duration::days(364)).to_string();
    let quarter_ago = (today - time::Duration::days(91)).to_string();
    let by_month_group = measure(client, 20, 1, |_| {
        client
            .get(format!("{api}/reports/sales?basis=orders&by=month,item_group&from={year_ago}&to={today}&limit=200"))
            .header("authorization", auth)
    })
    .await;
    let by_customer = measure(client, 20, 1, |_| {
        client
            .get(format!("{api}/reports/sales?basis=orders&by=customer&from={quarter_ago}&to={today}&top=100"))
            .header("authorization", auth)
    })
    .await;
    let attainment = measure(client, 20, 1, |_| {
        client.get(format!("{api}/reports/target-attainment?period={year}")).header("authorization", auth)
    })
    .await;
    let queue = measure(client, 20, 1, |_| {
        client.get(format!("{api}/tickets?open=true&sort=-score&limit=50")).header("authorization", auth)
    })
    .await;
    json!({
        "seeded": {"order_lines": FACTS, "tickets": TICKETS, "seconds": seed_seconds, "targets": persons.len() * 12 + 4},
        "sales_month_x_item_group_year": by_month_group,
        "sales_by_customer_quarter_top_100": by_customer,
        "target_attainment_year": attainment,
        "ticket_queue_100k": queue,
    })
}
