//! A form sent back after an error (issue 15), for the forms still built as strings:
//! attribute fragments (` value="…"`, ` checked`) spliced into their `format!` markup.

// The escaper itself, not `html::esc`: `html` re-exports `Sticky`, and modules do not import back.
use preau_pack::text::escape_html as esc;

/// A form sent back after an error (issue 15): filled with what was typed, the error at
/// its top (`role="alert"`), and the field in error marked `aria-invalid`, which
/// `preau.js` focuses (else the error itself). `Sticky::default()` is a fresh form.
#[derive(Default)]
pub struct Sticky {
    form: super::form::Form,
    error: String,
    field: &'static str,
}

impl Sticky {
    /// `form` refused with `error`, about the field named `field` ("" for the whole form).
    pub fn new(form: &super::form::Form, error: impl Into<String>, field: &'static str) -> Sticky {
        Sticky { form: form.clone(), error: error.into(), field }
    }

    pub fn is_error(&self) -> bool {
        !self.error.is_empty()
    }

    /// What was typed in `name`, escaped for an attribute or a textarea.
    pub fn text(&self, name: &str) -> String {
        esc(self.form.get(name).unwrap_or(""))
    }

    /// ` value="…"` (what was typed), empty for a fresh form.
    pub fn value(&self, name: &str) -> String {
        match self.form.get(name) {
            Some(v) if !v.is_empty() => format!(r#" value="{}""#, esc(v)),
            _ => String::new(),
        }
    }

    /// ` checked` when `name=value` was sent; `default` for a fresh form.
    pub fn checked(&self, name: &str, value: &str, default: bool) -> &'static str {
        let on = if self.is_error() { self.form.all(name).contains(&value) } else { default };
        if on { " checked" } else { "" }
    }

    /// ` selected` when `name=value` was sent.
    pub fn selected(&self, name: &str, value: &str) -> &'static str {
        if self.form.get(name) == Some(value) { " selected" } else { "" }
    }

    /// The attributes of the field in error.
    pub fn invalid(&self, name: &str) -> &'static str {
        if self.is_error() && self.field == name { r#" aria-invalid="true" aria-describedby="form-error""# } else { "" }
    }

    /// The error paragraph (focused by `preau.js` when no field is marked).
    pub fn notice(&self) -> String {
        if self.is_error() {
            format!(r#"<p class="error" role="alert" id="form-error" tabindex="-1">{}</p>"#, esc(&self.error))
        } else {
            String::new()
        }
    }

    // The same, for forms built with maud (which writes and escapes the attributes).

    /// What was typed in `name`, when something was.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.form.get(name).filter(|v| !v.is_empty())
    }

    /// Whether `name=value` was sent; `default` for a fresh form.
    pub fn is_checked(&self, name: &str, value: &str, default: bool) -> bool {
        if self.is_error() { self.form.all(name).contains(&value) } else { default }
    }

    /// Whether `name=value` was sent (a `<select>`'s option).
    pub fn is_selected(&self, name: &str, value: &str) -> bool {
        self.form.get(name) == Some(value)
    }

    /// Whether `name` is the field in error (`aria-invalid`, `aria-describedby`).
    pub fn is_invalid(&self, name: &str) -> bool {
        self.is_error() && self.field == name
    }

    /// The error paragraph, built with maud.
    pub fn error(&self) -> maud::Markup {
        maud::html! {
            @if self.is_error() {
                p.error role="alert" #form-error tabindex="-1" { (self.error) }
            }
        }
    }
}
