//! PDF: a document's PDF template (minijinja filling Typst markup) typeset by Typst
//! as a library, in process. The world Typst sees holds the one generated source and
//! the fonts embedded in the binary (Libertinus Serif: Latin, Polish, Cyrillic and
//! Hebrew; Typst sets Hebrew right to left from `lang`): no files, no network, no
//! packages, no clock (the same document gives the same bytes).

use std::sync::LazyLock;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::{FileId, Source, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World, WorldExt};
use typst_layout::PagedDocument;

/// The built-in PDF template (Typst markup with minijinja tags).
pub const DEFAULT: &str = include_str!("../../templates/document.typ.j2");

static LIBRARY: LazyLock<LazyHash<Library>> = LazyLock::new(|| LazyHash::new(Library::default()));

static FONTS: LazyLock<(LazyHash<FontBook>, Vec<Font>)> = LazyLock::new(|| {
    let fonts: Vec<Font> = typst_assets::fonts().flat_map(|data| Font::iter(Bytes::new(data))).collect();
    (LazyHash::new(FontBook::from_fonts(&fonts)), fonts)
});

struct DocumentWorld {
    main: Source,
    /// The company's logo at `/logo`, the one file a template may read.
    logo: Option<Bytes>,
}

impl World for DocumentWorld {
    fn library(&self) -> &LazyHash<Library> {
        &LIBRARY
    }
    fn book(&self) -> &LazyHash<FontBook> {
        &FONTS.0
    }
    fn main(&self) -> FileId {
        self.main.id()
    }
    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }
    fn file(&self, id: FileId) -> FileResult<Bytes> {
        match &self.logo {
            Some(logo) if matches!(id.root(), VirtualRoot::Project) && id.vpath().get_without_slash() == "logo" => {
                Ok(logo.clone())
            }
            _ => Err(FileError::AccessDenied),
        }
    }
    fn font(&self, index: usize) -> Option<Font> {
        FONTS.1.get(index).cloned()
    }
    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        None
    }
}

/// A 1×1 PNG: the logo a stored template is tried with.
pub fn sample_logo() -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
        .unwrap_or_default()
}

/// A value as a Typst string literal in markup (`#"..."`), ended by `;` so that
/// text right after it is not read as a method call.
pub fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    out.push_str("#\"");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push_str("\";");
    out
}

/// Typesets Typst markup (with the company's logo, if any, as `/logo`) to PDF bytes;
/// the first error with its line otherwise.
pub fn typeset(markup: String, logo: Option<Vec<u8>>) -> Result<Vec<u8>, String> {
    let world = DocumentWorld { main: Source::detached(markup), logo: logo.map(Bytes::new) };
    let result = typst::compile::<PagedDocument>(&world).output;
    // Typst memoizes across calls; keep what recent documents share (the fonts,
    // the library) and drop the rest, so memory stays flat.
    comemo::evict(10);
    let document = result.map_err(|errors| {
        errors
            .first()
            .map(|e| {
                let line = world
                    .range(e.span)
                    .and_then(|r| world.main.lines().byte_to_line(r.start))
                    .map(|l| format!("line {} of the typeset markup: ", l + 1))
                    .unwrap_or_default();
                format!("{line}{}", e.message)
            })
            .unwrap_or_else(|| "typesetting failed".into())
    })?;
    let options = typst_pdf::PdfOptions::default();
    typst_pdf::pdf(&document, &options)
        .map_err(|errors| errors.first().map(|e| e.message.to_string()).unwrap_or_else(|| "PDF export failed".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_inert_string_literals() {
        assert_eq!(literal("a \"b\" \\ #c\n"), "#\"a \\\"b\\\" \\\\ #c\\n\";");
        let pdf = typeset(format!("= {}.com and {}", literal("#panic()"), literal("שלום")), None).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(typeset("#panic(\"x\")".into(), None).unwrap_err().contains("line 1"));
    }

    #[test]
    fn the_logo_is_the_one_file_a_template_reads() {
        let png = sample_logo();
        assert!(typeset("#image(\"/logo\", height: 1cm)".into(), Some(png.clone())).is_ok());
        assert!(typeset("#image(\"/logo\")".into(), None).is_err(), "no logo, no file");
        for other in ["/etc/passwd", "/logo.png", "logo/../x"] {
            assert!(typeset(format!("#image(\"{other}\")"), Some(png.clone())).is_err(), "{other}");
        }
    }
}
