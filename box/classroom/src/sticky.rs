//! A form sent back after an error (issue 15): what was typed and which field is wrong,
//! for the maud templates to write back (`value=[…]`, `checked[…]`, `aria-invalid=[…]`).

use maud::{Markup, html};

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

    /// The error paragraph (focused by `preau.js` when no field is marked).
    pub fn error(&self) -> Markup {
        html! {
            @if self.is_error() {
                p.error role="alert" #form-error tabindex="-1" { (self.error) }
            }
        }
    }
}
