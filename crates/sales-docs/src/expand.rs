//! `?expand=`: the objects a document refers to, embedded in the answer so a screen
//! needs one call — the customer, the contact, the customer's owner (an agent's display
//! name), the sales person, and each line's item. One IN-query per kind for a whole
//! page, never one per row. Whoever may read a document may read these summaries of
//! what it refers to; they carry names and codes, nothing more.

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;
pub use ordo_core::expand::*;
use ordo_core::Result;
use ordo_db::schema::{contacts, customers, items, sales_persons, users};
use ordo_db::DbConnection;

/// A document that can carry expansions.
pub trait Expandable {
    /// The customer the record belongs to (none for a customer itself).
    fn customer_id(&self) -> Option<i64>;
    /// The record's own owner; without one, `owner` is the customer's owner.
    fn owner_id(&self) -> Option<i64> {
        None
    }
    fn contact_id(&self) -> Option<i64> {
        None
    }
    fn sales_person_id(&self) -> Option<i64> {
        None
    }
    fn expanded_mut(&mut self) -> &mut Option<Expanded>;
    /// Each line's item id and the slot its summary goes into (none without lines).
    fn item_slots(&mut self) -> Vec<(i64, &mut Option<ItemRef>)>;
}

/// Fills in what `want` asks for, for a whole page of documents at once.
pub fn apply<D: Expandable>(conn: &mut DbConnection, docs: &mut [D], want: &[Expand]) -> Result<()> {
    if want.is_empty() || docs.is_empty() {
        return Ok(());
    }
    let has = |e: Expand| want.contains(&e);
    let ids = |f: &dyn Fn(&D) -> Option<i64>| -> Vec<i64> {
        docs.iter().filter_map(f).collect::<BTreeSet<_>>().into_iter().collect()
    };
    let mut customer_map: HashMap<i64, CustomerRef> = HashMap::new();
    if has(Expand::Customer) || has(Expand::Owner) {
        let rows: Vec<(i64, String, String, String, Option<i64>)> = customers::table
            .filter(customers::id.eq_any(ids(&|d| d.customer_id())))
            .select((customers::id, customers::number, customers::name, customers::status, customers::owner_id))
            .load(conn)?;
        customer_map = rows
            .into_iter()
            .map(|(id, number, name, status, owner_id)| (id, CustomerRef { id, number, name, status, owner_id }))
            .collect();
    }
    let mut owner_map: HashMap<i64, UserRef> = HashMap::new();
    if has(Expand::Owner) {
        let owners: BTreeSet<i64> =
            customer_map.values().filter_map(|c| c.owner_id).chain(docs.iter().filter_map(|d| d.owner_id())).collect();
        let owners: Vec<i64> = owners.into_iter().collect();
        let rows: Vec<(i64, String)> =
            users::table.filter(users::id.eq_any(owners)).select((users::id, users::display_name)).load(conn)?;
        owner_map = rows.into_iter().map(|(id, display_name)| (id, UserRef { id, display_name })).collect();
    }
    let mut contact_map: HashMap<i64, ContactRef> = HashMap::new();
    if has(Expand::Contact) {
        let rows: Vec<(i64, String, Option<String>, Option<String>)> = contacts::table
            .filter(contacts::id.eq_any(ids(&|d| d.contact_id())))
            .select((contacts::id, contacts::name, contacts::email, contacts::phone))
            .load(conn)?;
        contact_map =
            rows.into_iter().map(|(id, name, email, phone)| (id, ContactRef { id, name, email, phone })).collect();
    }
    let mut person_map: HashMap<i64, SalesPersonRef> = HashMap::new();
    if has(Expand::SalesPerson) {
        let rows: Vec<(i64, String)> = sales_persons::table
            .filter(sales_persons::id.eq_any(ids(&|d| d.sales_person_id())))
            .select((sales_persons::id, sales_persons::name))
            .load(conn)?;
        person_map = rows.into_iter().map(|(id, name)| (id, SalesPersonRef { id, name })).collect();
    }
    let mut item_map: HashMap<i64, ItemRef> = HashMap::new();
    if has(Expand::LinesItem) {
        let wanted: BTreeSet<i64> = docs.iter_mut().flat_map(|d| d.item_slots().into_iter().map(|s| s.0)).collect();
        let rows: Vec<(i64, String, String, String)> = items::table
            .filter(items::id.eq_any(wanted.into_iter().collect::<Vec<_>>()))
            .select((items::id, items::sku, items::name, items::base_unit))
            .load(conn)?;
        item_map =
            rows.into_iter().map(|(id, sku, name, base_unit)| (id, ItemRef { id, sku, name, base_unit })).collect();
    }
    for d in docs.iter_mut() {
        let customer = d.customer_id().and_then(|c| customer_map.get(&c).cloned());
        let owner =
            d.owner_id().or(customer.as_ref().and_then(|c| c.owner_id)).and_then(|o| owner_map.get(&o).cloned());
        let contact = d.contact_id().and_then(|c| contact_map.get(&c).cloned());
        let sales_person = d.sales_person_id().and_then(|p| person_map.get(&p).cloned());
        let header = [Expand::Customer, Expand::Contact, Expand::Owner, Expand::SalesPerson];
        if header.iter().any(|e| has(*e)) {
            *d.expanded_mut() =
                Some(Expanded { customer: customer.filter(|_| has(Expand::Customer)), contact, owner, sales_person });
        }
        if has(Expand::LinesItem) {
            for (item, slot) in d.item_slots() {
                *slot = item_map.get(&item).cloned();
            }
        }
    }
    Ok(())
}

pub fn line_slots(lines: Option<&mut Vec<crate::lines::Line>>) -> Vec<(i64, &mut Option<ItemRef>)> {
    lines.into_iter().flatten().map(|l| (l.input.item_id, &mut l.item)).collect()
}

/// The `Expandable` impl of a document: it hangs off `customer_id`, embeds into
/// `expanded`, and `lines: |d| ...` gives its lines' item slots; `contact` and
/// `sales_person` name the fields it has of those.
#[macro_export]
macro_rules! expandable {
    ($t:ty, lines: |$d:ident| $slots:expr $(, contact: $contact:ident)? $(, sales_person: $sp:ident)?) => {
        impl $crate::expand::Expandable for $t {
            fn customer_id(&self) -> Option<i64> {
                Some(self.customer_id)
            }
            $(fn contact_id(&self) -> Option<i64> {
                self.$contact
            })?
            $(fn sales_person_id(&self) -> Option<i64> {
                self.$sp
            })?
            fn expanded_mut(&mut self) -> &mut Option<$crate::expand::Expanded> {
                &mut self.expanded
            }
            fn item_slots(&mut self) -> Vec<(i64, &mut Option<$crate::expand::ItemRef>)> {
                let $d = self;
                $slots
            }
        }
    };
}

expandable!(crate::quotations::Quotation, lines: |d| line_slots(d.lines.as_mut()), contact: contact_id,
    sales_person: sales_person_id);
expandable!(crate::orders::SalesOrder, lines: |d| line_slots(d.lines.as_mut()), contact: contact_id,
    sales_person: sales_person_id);
expandable!(crate::blanket::BlanketOrder,
    lines: |d| d.lines.iter_mut().flatten().map(|l| (l.line.input.item_id, &mut l.line.item)).collect(),
    sales_person: sales_person_id);

/// A customer record: `owner` embeds its owner's display name.
impl Expandable for ordo_crm::model::Customer {
    fn customer_id(&self) -> Option<i64> {
        None
    }
    fn owner_id(&self) -> Option<i64> {
        self.owner_id
    }
    fn expanded_mut(&mut self) -> &mut Option<Expanded> {
        &mut self.expanded
    }
    fn item_slots(&mut self) -> Vec<(i64, &mut Option<ItemRef>)> {
        Vec::new()
    }
}
