//! Small SQL helpers shared by the repositories.

use diesel::sql_types::Text;

diesel::define_sql_function! {
    /// `lower(text)`, the same on both backends.
    fn lower(x: Text) -> Text;
}

/// Escapes `%`, `_` and `\` so user search text matches literally in `LIKE ... ESCAPE '\'`.
pub fn like_pattern(q: &str) -> String {
    let mut s = String::with_capacity(q.len() + 2);
    s.push('%');
    for ch in q.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(ch);
    }
    s.push('%');
    s
}
