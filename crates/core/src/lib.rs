//! ordo-core: the vocabulary every other crate shares — exact numbers, currencies,
//! errors, who is asking, pagination cursors and the clock.

pub mod body;
pub mod currency;
pub mod decimal;
pub mod error;
pub mod expand;
pub mod page;
pub mod principal;
pub mod serde_util;
pub mod time_util;
pub mod util;
pub mod validate;

pub use currency::Currency;
pub use decimal::{Money, Quantity, Rate};
pub use error::{DomainError, FieldError, Result};
pub use page::{Cursor, Page, PageRequest, Sort};
pub use principal::{Caller, Permission, Principal, PrincipalKind, Role, Scope};
