//! The pupil's "To do" section on the home page: the work their teacher set, with each
//! item's state (built with maud; the rules of a work's items are in `work.rs`).

use maud::{Markup, html};

use super::html::Lang;
use super::progress::Done;
use super::store::Work;
use super::web::Shared;
use super::work::{State3, due_text, item_state, mark, pupil_href, state_word};

/// The pupil home's « À faire »: visible work for this pupil, soonest due first, each
/// item with where the pupil is; work past its due date and not finished says so.
pub fn todo_section(app: &Shared, lang: Lang, pupil: i64, done: &Done) -> Markup {
    let works: Vec<Work> = app.store().works_for_pupil(pupil).unwrap_or_default();
    if works.is_empty() {
        return html! {};
    }
    let tz = app.tz_minutes();
    let now = app.now();
    html! {
        section aria-labelledby="todo" {
            h2 #todo { (lang.t("À faire", "To do")) }
            @for w in &works {
                @let states: Vec<State3> = (0..w.items.len()).map(|i| item_state(done, &w.items, i)).collect();
                @let n = states.iter().filter(|s| **s == State3::Done).count();
                @let late = w.due.is_some_and(|d| d < now) && n < w.items.len();
                div.card.work id={ "work-" (w.id) } {
                    h3 { (w.title) }
                    p {
                        (due_text(lang, w.due, tz)) " · " (n) " / " (w.items.len()) " " (lang.t("fait(s)", "done"))
                        @if late {
                            " "
                            strong.error { (lang.t("en retard", "late")) }
                        }
                    }
                    ol {
                        @for (it, s) in w.items.iter().zip(&states) {
                            li {
                                span aria-hidden="true" { (mark(*s)) }
                                " "
                                a href=(pupil_href(it)) { (it.title) }
                                " "
                                small { "(" (state_word(lang, *s)) ")" }
                            }
                        }
                    }
                }
            }
        }
    }
}
