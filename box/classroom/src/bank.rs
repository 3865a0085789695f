//! Quizzes from the banks (issue 15): the teacher builds a quiz from the questions of the
//! installed packs' quizzes (by pack and category; picked one by one, or drawn at random
//! from a category), with shuffling, an attempt limit, a time limit and when right answers
//! show. It is stored on the box as the teacher's own (`own_quizzes`, never inside a
//! signed pack) under the pseudo-pack `player::OWN_PACK`, and played and marked by the same
//! player as imported quizzes (`player::load_quiz` reads it from the store).
//!
//! Routes: `GET /teacher/quizzes`, `POST /teacher/quizzes`.

use std::collections::BTreeMap;

use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Redirect, Response};
use preau_pack::quiz::{self, Question, QuestionKind, Quiz, ReviewOptions, ReviewTime};

use maud::{Markup, html};

use super::html::{Lang, Page, Sticky, strip_tags};
use super::player::load_quiz;
use super::progress::outline;
use super::store::MAX_NAME_CHARS;
use super::web::{Csrf, Post, Shared, TeacherId, internal};
/// Questions in one built quiz.
const MAX_QUESTIONS: usize = 100;

/// A bank question: where it comes from and the question itself.
struct BankQuestion {
    key: String,
    pack_title: String,
    category: String,
    question: Question,
}

/// The questions of every quiz the installed courses list, by pack then category (each
/// question once, however many quizzes hold it). Random slots and descriptions are left
/// out; their candidates are questions of their own category.
fn bank(app: &Shared) -> Vec<BankQuestion> {
    let mut out: Vec<BankQuestion> = Vec::new();
    for p in app.ctx.packs.list() {
        let Some(o) = outline(app, &p.id) else { continue };
        let mut seen: BTreeMap<String, ()> = BTreeMap::new();
        for a in o.activities() {
            let Some(qid) = a.path.strip_prefix("_quiz/") else { continue };
            let Some(q) = load_quiz(app, &p.id, qid) else { continue };
            let mut all: Vec<Question> = Vec::new();
            for question in q.questions {
                match question.kind {
                    QuestionKind::Random(r) => all.extend(r.candidates),
                    QuestionKind::Description => {}
                    _ => all.push(question),
                }
            }
            for question in all {
                let category = if question.category.is_empty() { q.title.clone() } else { question.category.clone() };
                let dedup = format!("{category}\0{}\0{}", question.name, question.text_html);
                if seen.insert(dedup, ()).is_some() {
                    continue;
                }
                out.push(BankQuestion {
                    key: format!("{}/{qid}/{}", p.id, question.id),
                    pack_title: p.title.clone(),
                    category,
                    question,
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.pack_title, &a.category).cmp(&(&b.pack_title, &b.category)));
    out
}

fn label(q: &Question) -> String {
    let text: String = strip_tags(&q.text_html).chars().take(90).collect();
    if q.name.is_empty() { text } else { format!("{} — {text}", q.name) }
}

/// `GET /teacher/quizzes`: the teacher's quizzes and the builder.
pub async fn page(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Extension(TeacherId(t)): Extension<TeacherId>,
) -> Response {
    builder(&app, lang, &csrf.input(), t, &Sticky::default())
}

/// The teacher's quizzes and the builder, filled with `sticky` (a refused form).
fn builder(app: &Shared, lang: Lang, f: &Markup, t: i64, sticky: &Sticky) -> Response {
    let (own, teacher) = {
        let store = app.store();
        (store.own_quizzes().unwrap_or_default(), store.teacher_name(t).ok().flatten())
    };
    let questions = bank(app);
    // Consecutive questions of one pack and category share a fieldset.
    let mut groups: Vec<(&str, &str, Vec<&BankQuestion>)> = Vec::new();
    for bq in &questions {
        match groups.last_mut() {
            Some((p, c, qs)) if *p == bq.pack_title && *c == bq.category => qs.push(bq),
            _ => groups.push((&bq.pack_title, &bq.category, vec![bq])),
        }
    }
    let bad = |name: &str| sticky.is_invalid(name).then_some("true");
    let described = |name: &str| sticky.is_invalid(name).then_some("form-error");
    let body = html! {
        (super::html::teacher_nav(lang))
        h2 { (lang.t("Mes quiz", "My quizzes")) }
        @if own.is_empty() {
            p { (lang.t("Aucun quiz pour l'instant.", "No quiz yet.")) }
        } @else {
            ul #own-quizzes {
                @for (_, title) in &own {
                    li {
                        (title) " "
                        small { "(" (lang.t(
                            "à donner à une classe depuis sa page, « Donner du travail »",
                            "give it to a class from its page, \"Give work\""
                        )) ")" }
                    }
                }
            }
        }
        h2 { (lang.t("Construire un quiz depuis les banques de questions", "Build a quiz from the question banks")) }
        form method="post" action="/teacher/quizzes" {
            // Safe HTML: the CSRF field, made by `html::csrf_input`.
            (f)
            (sticky.error())
            label {
                (lang.t("Titre :", "Title:")) " "
                input name="title" required maxlength=(MAX_NAME_CHARS * 2) value=[sticky.get("title")]
                    aria-invalid=[bad("title")] aria-describedby=[described("title")];
            }
            @if questions.is_empty() {
                p { (lang.t("Aucun contenu installé n'a de quiz.", "No installed content has quizzes.")) }
            }
            @for (pack_title, category, qs) in &groups {
                @let draw = format!("draw:{}\u{1f}{}", qs[0].key.split('/').next().unwrap_or(""), category);
                fieldset.bank {
                    legend { (pack_title) " — " (category) }
                    label {
                        (lang.t("Tirer au hasard (nombre de questions) :", "Draw at random (number of questions):")) " "
                        input type="number" name=(draw) min="0" max="20" size="3" value=(sticky.get(&draw).unwrap_or("0"));
                    }
                    @for bq in qs {
                        label {
                            input type="checkbox" name="q" value=(bq.key) checked[sticky.is_checked("q", &bq.key, false)];
                            " " (label(&bq.question))
                        }
                    }
                }
            }
            fieldset {
                legend { (lang.t("Réglages", "Settings")) }
                label {
                    input type="checkbox" name="shuffle" value="1" checked[sticky.is_checked("shuffle", "1", false)];
                    " " (lang.t("Mélanger les questions", "Shuffle the questions"))
                }
                label {
                    (lang.t("Nombre d'essais (vide : illimité) :", "Attempts (empty: unlimited):")) " "
                    input type="number" name="attempts" min="0" max="100" size="3" value=[sticky.get("attempts")]
                        aria-invalid=[bad("attempts")] aria-describedby=[described("attempts")];
                }
                label {
                    (lang.t("Temps limité en minutes (vide : sans limite) :", "Time limit in minutes (empty: none):")) " "
                    input type="number" name="minutes" min="0" max="600" size="4" value=[sticky.get("minutes")]
                        aria-invalid=[bad("minutes")] aria-describedby=[described("minutes")];
                }
                label {
                    (lang.t("Bonnes réponses montrées :", "Right answers shown:")) " "
                    select name="answers" {
                        option value="last" { (lang.t("après le dernier essai permis", "after the last attempt allowed")) }
                        option value="after" selected[sticky.is_selected("answers", "after")] { (lang.t("après chaque essai", "after each attempt")) }
                    }
                }
            }
            button { (lang.t("Créer le quiz", "Create the quiz")) }
        }
    };
    let title = if sticky.is_error() {
        lang.t("Quiz de l'enseignant — à corriger", "Teacher's quizzes — to correct")
    } else {
        lang.t("Quiz de l'enseignant", "Teacher's quizzes")
    };
    let mut page = Page::new(lang, title, body);
    page.user = teacher;
    if sticky.is_error() {
        page = page.status(axum::http::StatusCode::BAD_REQUEST);
    }
    page.into_response()
}

fn number(form: &super::web::Form, name: &str, max: u32) -> Result<Option<u32>, ()> {
    match form.get(name).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse::<u32>().ok().filter(|n| *n <= max).map(Some).ok_or(()),
    }
}

/// `POST /teacher/quizzes`: builds the quiz and stores it.
pub async fn create(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Post { who: TeacherId(t), form }: Post<TeacherId>,
) -> Response {
    // A refusal sends the builder back as it was filled in.
    let refused =
        |text: &str, field: &'static str| builder(&app, lang, &csrf.input(), t, &Sticky::new(&form, text, field));
    let Some(title) = form.text("title", MAX_NAME_CHARS * 2) else {
        return refused(
            lang.t("Donnez un titre (120 caractères au plus).", "Give a title (at most 120 characters)."),
            "title",
        );
    };
    let Ok(attempts) = number(&form, "attempts", 100) else {
        return refused(lang.t("Nombre d'essais : de 0 à 100.", "Attempts: from 0 to 100."), "attempts");
    };
    let Ok(minutes) = number(&form, "minutes", 600) else {
        return refused(lang.t("Temps limité : de 0 à 600 minutes.", "Time limit: from 0 to 600 minutes."), "minutes");
    };
    let all = bank(&app);
    let mut questions: Vec<Question> = Vec::new();
    for key in form.all("q") {
        let Some(bq) = all.iter().find(|b| b.key == key) else {
            return refused(
                lang.t(
                    "Une question choisie n'est plus installée : elle n'est plus cochée.",
                    "A chosen question is no longer installed: it is no longer ticked.",
                ),
                "",
            );
        };
        let mut q = bq.question.clone();
        q.id = format!("s{}", questions.len() + 1);
        questions.push(q);
    }
    // Random draws: one slot per question asked, its candidates the category's questions.
    for (name, value) in &form.0 {
        let Some(group) = name.strip_prefix("draw:") else { continue };
        let n: usize = value.trim().parse().unwrap_or(0).min(20);
        let Some((pack, category)) = group.split_once('\u{1f}') else { continue };
        let candidates: Vec<Question> = all
            .iter()
            .filter(|b| b.key.split('/').next() == Some(pack) && b.category == category)
            .map(|b| b.question.clone())
            .collect();
        if n > 0 && candidates.is_empty() {
            return refused(
                lang.t(
                    "Une catégorie tirée au hasard n'a plus de questions.",
                    "A category drawn at random has no questions any more.",
                ),
                "",
            );
        }
        for _ in 0..n.min(candidates.len()) {
            questions.push(Question {
                id: format!("s{}", questions.len() + 1),
                name: String::new(),
                text_html: String::new(),
                category: category.to_string(),
                mark: 1.0,
                general_feedback_html: String::new(),
                kind: QuestionKind::Random(quiz::Random {
                    pool_category: category.to_string(),
                    include_subcategories: false,
                    candidates: candidates.clone(),
                }),
            });
        }
    }
    if questions.is_empty() {
        return refused(
            lang.t("Choisissez au moins une question, ou un tirage.", "Choose at least one question, or a draw."),
            "",
        );
    }
    if questions.len() > MAX_QUESTIONS {
        return refused(lang.t("100 questions au plus.", "At most 100 questions."), "");
    }
    // "After each attempt": Moodle's review options with right answers and feedback
    // immediately and later; otherwise the box's own rule (right answers with the last
    // attempt allowed, or when the teacher releases them).
    let review = (form.get("answers") == Some("after")).then(|| {
        let all = ReviewTime::ImmediatelyAfter.bit() | ReviewTime::LaterWhileOpen.bit();
        ReviewOptions {
            attempt: all,
            correctness: all,
            marks: all,
            specific_feedback: all,
            general_feedback: all,
            right_answer: all,
            overall_feedback: all,
        }
    });
    let make = |id: &str| {
        let q = Quiz {
            format: quiz::QUIZ_FORMAT,
            id: id.to_string(),
            title: title.clone(),
            intro_html: String::new(),
            questions,
            max_grade: 10.0,
            attempts_allowed: attempts.filter(|n| *n > 0),
            time_limit_secs: minutes.filter(|m| *m > 0).map(|m| m as u64 * 60),
            shuffle_questions: form.get("shuffle") == Some("1"),
            grade_method: Default::default(),
            review,
            overall_feedback: Vec::new(),
        };
        serde_json::to_string(&q).unwrap_or_default()
    };
    let now = app.now();
    // (The store's lock is let go before a refusal builds the page again.)
    let created = app.store().create_own_quiz(&title, make, now);
    match created {
        Ok(Some(_)) => Redirect::to("/teacher/quizzes").into_response(),
        Ok(None) => refused(lang.t("Trop de quiz sur cette boîte (500).", "Too many quizzes on this box (500)."), ""),
        Err(e) => internal(lang, e),
    }
}
