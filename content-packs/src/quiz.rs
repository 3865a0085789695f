//! Structured quizzes: what importers write to `_preau/quiz/<id>.json` and what the box's
//! quiz player reads.
//!
//! The stored [`Quiz`] holds correct answers, fractions and per-answer feedback, so it
//! lives under `_preau/` and is never served. The browser only ever sees [`public_view`],
//! which strips all of that; the box marks a submitted [`Response`] with [`score`].
//!
//! Scoring follows Moodle's question types (qtype_*::grade_response), because the data
//! comes from Moodle and teachers expect the same marks:
//! - multichoice single: the chosen answer's fraction (may be negative);
//!   multiple: the sum of the chosen answers' fractions, clamped to [0, 1];
//! - truefalse: 1 or 0;
//! - shortanswer: the first answer (in stored order) whose pattern matches wins;
//!   `*` matches any run of characters, `\*` a literal star; case-insensitive unless
//!   `case_sensitive`; surrounding white space ignored;
//! - numerical: the first answer with |x - a| <= tolerance wins (`*` matches anything);
//!   a unit divides the value by its multiplier; a missing or unknown unit costs
//!   `unit_penalty` when units are required;
//! - match: right pairs / number of stems;
//! - multianswer (cloze): subquestion fractions weighted by their marks;
//! - gapselect / ddwtos: right gaps / number of gaps;
//! - essay: no fraction, the teacher marks it; description: not marked.
//!
//! Lists shown to the pupil (choices, match options, gap options) are shown in
//! [`display_order`]: the author's order when the question does not shuffle, otherwise a
//! fixed permutation derived from the question, so that the position of an answer in the
//! public data never tells which one is right. A [`Response`] always indexes the lists
//! in the order `public_view` shows them.

use serde::{Deserialize, Serialize};

use crate::hash::Hash;

/// The quiz file format version. Readers refuse files with a higher number.
pub const QUIZ_FORMAT: u32 = 1;

/// A quiz with its questions in order (one question per slot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quiz {
    #[serde(default = "quiz_format")]
    pub format: u32,
    /// Unique within the pack; the quiz lives at `_preau/quiz/<id>.json` and is opened
    /// through the relative link `_quiz/<id>`.
    pub id: String,
    pub title: String,
    /// Sanitised HTML.
    #[serde(default)]
    pub intro_html: String,
    pub questions: Vec<Question>,
    /// Grade the whole quiz is scaled to (Moodle's `grade`), for example 10 or 20.
    #[serde(default = "default_max_grade")]
    pub max_grade: f64,
    /// `None` means unlimited.
    #[serde(default)]
    pub attempts_allowed: Option<u32>,
    #[serde(default)]
    pub time_limit_secs: Option<u64>,
    #[serde(default)]
    pub shuffle_questions: bool,
    /// How the pupil's grade for the quiz is drawn from their attempts (Moodle's `grademethod`).
    #[serde(default)]
    pub grade_method: GradeMethod,
    /// What a pupil may see of a submitted attempt (Moodle's review options). `None` when the
    /// source says nothing (GIFT, Moodle XML, folders): the player keeps its own rule.
    #[serde(default)]
    pub review: Option<ReviewOptions>,
    /// Moodle's overall feedback: a text per band of the quiz grade (out of `max_grade`),
    /// shown with an attempt when `review.overall_feedback` allows it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overall_feedback: Vec<OverallFeedback>,
}

/// One band of Moodle's overall feedback (`quiz_feedback`): for grades with
/// `min_grade <= grade < max_grade` (Moodle's rule; the top band includes the maximum).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverallFeedback {
    pub min_grade: f64,
    pub max_grade: f64,
    /// Sanitised HTML.
    pub text_html: String,
}

/// The overall feedback for a grade (out of the quiz's `max_grade`), if a band holds it.
pub fn overall_feedback_for(quiz: &Quiz, grade: f64) -> Option<&str> {
    quiz.overall_feedback
        .iter()
        .find(|b| grade >= b.min_grade - 1e-9 && (grade < b.max_grade - 1e-9 || b.max_grade > quiz.max_grade - 1e-9))
        .map(|b| b.text_html.as_str())
        .filter(|t| !t.trim().is_empty())
}

/// Moodle's `grademethod`: 1 highest, 2 average, 3 first, 4 last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GradeMethod {
    #[default]
    Highest,
    Average,
    First,
    Last,
}

impl GradeMethod {
    /// Moodle's code; `None` for a code Moodle does not define.
    pub fn from_moodle(code: i64) -> Option<GradeMethod> {
        match code {
            1 => Some(GradeMethod::Highest),
            2 => Some(GradeMethod::Average),
            3 => Some(GradeMethod::First),
            4 => Some(GradeMethod::Last),
            _ => None,
        }
    }
}

/// When a pupil looks at an attempt, in Moodle's terms
/// (`mod/quiz/classes/question/display_options.php`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewTime {
    During,
    ImmediatelyAfter,
    LaterWhileOpen,
    AfterClose,
}

impl ReviewTime {
    /// Moodle's bit for this time in every `review*` field.
    pub fn bit(self) -> u32 {
        match self {
            ReviewTime::During => 0x10000,
            ReviewTime::ImmediatelyAfter => 0x01000,
            ReviewTime::LaterWhileOpen => 0x00100,
            ReviewTime::AfterClose => 0x00010,
        }
    }
}

/// Moodle's review options, each a bit field of `ReviewTime::bit`s, kept as Moodle stores them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewOptions {
    #[serde(default)]
    pub attempt: u32,
    #[serde(default)]
    pub correctness: u32,
    #[serde(default)]
    pub marks: u32,
    #[serde(default)]
    pub specific_feedback: u32,
    #[serde(default)]
    pub general_feedback: u32,
    #[serde(default)]
    pub right_answer: u32,
    #[serde(default)]
    pub overall_feedback: u32,
}

impl ReviewOptions {
    /// Whether the field `f` (one of this struct's values) allows showing at `when`.
    pub fn allows(f: u32, when: ReviewTime) -> bool {
        f & when.bit() != 0
    }
}

fn quiz_format() -> u32 {
    QUIZ_FORMAT
}

fn default_max_grade() -> f64 {
    10.0
}

fn default_mark() -> f64 {
    1.0
}

/// One question with its shared parts; `kind` holds what differs per question type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// Unique within the quiz.
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Sanitised HTML. For gap types it holds `[[1]]`, `[[2]]`… in gap order; for cloze
    /// `{#1}`, `{#2}`… in subquestion order.
    #[serde(default)]
    pub text_html: String,
    /// The question bank category path, for example `Défaut pour Module 2/Chapitre 1`.
    #[serde(default)]
    pub category: String,
    /// Marks of this question in the quiz (Moodle's default mark or slot mark).
    #[serde(default = "default_mark")]
    pub mark: f64,
    /// Shown after submission whatever the response (Moodle's general feedback).
    #[serde(default)]
    pub general_feedback_html: String,
    #[serde(flatten)]
    pub kind: QuestionKind,
}

/// Feedback given according to the overall result (Moodle's combined feedback).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CombinedFeedback {
    pub correct_html: String,
    pub partially_correct_html: String,
    pub incorrect_html: String,
}

/// What differs per question type; serialised with a `type` field named as Moodle's qtype.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum QuestionKind {
    MultiChoice(MultiChoice),
    TrueFalse(TrueFalse),
    ShortAnswer(ShortAnswer),
    Numerical(Numerical),
    Match(Match),
    Essay(Essay),
    Description,
    /// Cloze: the question text holds `{#n}` markers for `parts[n-1]`.
    MultiAnswer(MultiAnswer),
    GapSelect(Gaps),
    DdWtos(Gaps),
    /// One question drawn per attempt from `candidates` (Moodle's random question,
    /// resolved at import from the category the backup holds).
    Random(Random),
}

impl QuestionKind {
    /// Moodle's qtype name, used in reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            QuestionKind::MultiChoice(_) => "multichoice",
            QuestionKind::TrueFalse(_) => "truefalse",
            QuestionKind::ShortAnswer(_) => "shortanswer",
            QuestionKind::Numerical(_) => "numerical",
            QuestionKind::Match(_) => "match",
            QuestionKind::Essay(_) => "essay",
            QuestionKind::Description => "description",
            QuestionKind::MultiAnswer(_) => "multianswer",
            QuestionKind::GapSelect(_) => "gapselect",
            QuestionKind::DdWtos(_) => "ddwtos",
            QuestionKind::Random(_) => "random",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub text_html: String,
    /// Between -1 and 1; 1 is fully right.
    pub fraction: f64,
    #[serde(default)]
    pub feedback_html: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiChoice {
    /// One answer (radio buttons) or several (check boxes).
    pub single: bool,
    #[serde(default)]
    pub shuffle: bool,
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub combined: CombinedFeedback,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrueFalse {
    pub correct: bool,
    #[serde(default)]
    pub feedback_true_html: String,
    #[serde(default)]
    pub feedback_false_html: String,
}

/// One accepted short answer. `pattern` may hold `*` wildcards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextAnswer {
    pub pattern: String,
    pub fraction: f64,
    #[serde(default)]
    pub feedback_html: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShortAnswer {
    #[serde(default)]
    pub case_sensitive: bool,
    pub answers: Vec<TextAnswer>,
}

/// One numerical answer: `value` (None for Moodle's `*`, any number) and a tolerance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumAnswer {
    pub value: Option<f64>,
    #[serde(default)]
    pub tolerance: f64,
    pub fraction: f64,
    #[serde(default)]
    pub feedback_html: String,
}

/// A unit; a response in this unit is divided by `multiplier` to get the base value
/// (base unit `m` multiplier 1, `cm` multiplier 100).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub name: String,
    pub multiplier: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Numerical {
    pub answers: Vec<NumAnswer>,
    #[serde(default)]
    pub units: Vec<Unit>,
    /// When true, a missing or unknown unit costs `unit_penalty` (a fraction of the mark).
    #[serde(default)]
    pub unit_required: bool,
    #[serde(default)]
    pub unit_penalty: f64,
}

/// One stem and its right answer. A stem with empty `stem_html` is an extra wrong answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchPair {
    pub stem_html: String,
    pub answer: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    pub pairs: Vec<MatchPair>,
    #[serde(default)]
    pub shuffle: bool,
    #[serde(default)]
    pub combined: CombinedFeedback,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Essay {
    /// Moodle's response format: `editor`, `plain`, `monospaced`, `noinline`…
    pub response_format: String,
    /// Text pre-filled in the answer box.
    pub template_html: String,
    /// Shown to the teacher only, to help marking.
    pub grader_info_html: String,
    pub min_words: Option<u32>,
    pub max_words: Option<u32>,
    /// How many files a pupil may attach (0: none).
    pub attachments: u32,
}

/// One gap of a cloze question, with its weight (Moodle's subquestion default mark).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClozePart {
    #[serde(default = "default_mark")]
    pub weight: f64,
    /// Only `MultiChoice`, `ShortAnswer` and `Numerical` occur in Moodle cloze.
    #[serde(flatten)]
    pub kind: QuestionKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiAnswer {
    pub parts: Vec<ClozePart>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GapChoice {
    pub text: String,
    /// A gap offers the choices of the group of its right choice.
    #[serde(default = "one")]
    pub group: u32,
    /// ddwtos: the choice may be used in several gaps.
    #[serde(default)]
    pub infinite: bool,
}

fn one() -> u32 {
    1
}

/// gapselect and ddwtos: the text holds `[[1]]`, `[[2]]`… (gap numbers); `gaps[i]` is
/// the index in `choices` of the right choice for gap `i + 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gaps {
    pub choices: Vec<GapChoice>,
    pub gaps: Vec<usize>,
    #[serde(default)]
    pub shuffle: bool,
    #[serde(default)]
    pub combined: CombinedFeedback,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Random {
    /// The category the candidates were drawn from (a field name distinct from
    /// `Question::category`, which sits beside it in the flattened JSON).
    pub pool_category: String,
    #[serde(default)]
    pub include_subcategories: bool,
    pub candidates: Vec<Question>,
}

/// A pupil's answer to one question. Indices refer to the lists as [`public_view`] shows
/// them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Response {
    /// multichoice: the positions of the selected choices.
    Choice {
        selected: Vec<usize>,
    },
    TrueFalse {
        value: bool,
    },
    /// shortanswer, numerical (number and optional unit in one string) and essay.
    Text {
        text: String,
    },
    /// match: for each stem (public order) the position of the chosen option, if any.
    /// gapselect / ddwtos: for each gap the position of the chosen option in that gap's list.
    Select {
        choices: Vec<Option<usize>>,
    },
    /// cloze: one response per part.
    Cloze {
        parts: Vec<Response>,
    },
    /// random: which candidate the box drew, and the response to it.
    Random {
        picked: usize,
        response: Box<Response>,
    },
    /// Nothing answered.
    Empty,
}

/// The result of marking one response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// Between -1 and 1 (only multichoice single can be negative); `None` when the
    /// question is not marked automatically (essay, description).
    pub fraction: Option<f64>,
    /// True when a teacher must mark it (essay).
    pub needs_grading: bool,
    /// Feedback to show after submission (sanitised HTML pieces joined).
    pub feedback_html: String,
    /// The right answer in words, for example `Paris` or `Lyon → Rhône; Lille → Nord`.
    pub right_answer_summary: String,
}

/// Marks a response. Pure: no I/O, no randomness. A response of the wrong shape for the
/// question (or indices out of range) scores 0, never panics.
pub fn score(q: &Question, r: &Response) -> Mark {
    let mut mark = score_kind(&q.id, &q.kind, r);
    if !q.general_feedback_html.is_empty() {
        push_feedback(&mut mark.feedback_html, &q.general_feedback_html);
    }
    mark
}

fn push_feedback(out: &mut String, piece: &str) {
    if piece.trim().is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(piece);
}

fn graded(fraction: f64, feedback_html: String, right_answer_summary: String) -> Mark {
    Mark { fraction: Some(fraction), needs_grading: false, feedback_html, right_answer_summary }
}

fn combined_for(c: &CombinedFeedback, fraction: f64) -> &str {
    if fraction >= 1.0 - 1e-9 {
        &c.correct_html
    } else if fraction > 1e-9 {
        &c.partially_correct_html
    } else {
        &c.incorrect_html
    }
}

fn score_kind(qid: &str, kind: &QuestionKind, r: &Response) -> Mark {
    match kind {
        QuestionKind::MultiChoice(mc) => score_multichoice(qid, mc, r),
        QuestionKind::TrueFalse(tf) => {
            let right = if tf.correct { "Vrai" } else { "Faux" }.to_string();
            match r {
                Response::TrueFalse { value } => {
                    let fb = if *value { &tf.feedback_true_html } else { &tf.feedback_false_html };
                    graded(if *value == tf.correct { 1.0 } else { 0.0 }, fb.clone(), right)
                }
                _ => graded(0.0, String::new(), right),
            }
        }
        QuestionKind::ShortAnswer(sa) => {
            let right = best_text_answer(sa).unwrap_or_default();
            let text = match r {
                Response::Text { text } => text.as_str(),
                _ => return graded(0.0, String::new(), right),
            };
            match sa.answers.iter().find(|a| wildcard_match(&a.pattern, text, sa.case_sensitive)) {
                Some(a) => graded(a.fraction, a.feedback_html.clone(), right),
                None => graded(0.0, String::new(), right),
            }
        }
        QuestionKind::Numerical(n) => score_numerical(n, r),
        QuestionKind::Match(m) => score_match(qid, m, r),
        QuestionKind::Essay(_) => Mark {
            fraction: None,
            needs_grading: true,
            feedback_html: String::new(),
            right_answer_summary: String::new(),
        },
        QuestionKind::Description => Mark {
            fraction: None,
            needs_grading: false,
            feedback_html: String::new(),
            right_answer_summary: String::new(),
        },
        QuestionKind::MultiAnswer(ma) => score_cloze(qid, ma, r),
        QuestionKind::GapSelect(g) | QuestionKind::DdWtos(g) => score_gaps(qid, g, r),
        QuestionKind::Random(rq) => match r {
            Response::Random { picked, response } => match rq.candidates.get(*picked) {
                Some(q) => score(q, response),
                None => graded(0.0, String::new(), String::new()),
            },
            _ => graded(0.0, String::new(), String::new()),
        },
    }
}

fn score_multichoice(qid: &str, mc: &MultiChoice, r: &Response) -> Mark {
    let order = display_order(qid, mc.shuffle, mc.choices.iter().map(|c| c.text_html.as_str()));
    let right: Vec<&str> = mc
        .choices
        .iter()
        .filter(|c| c.fraction > 0.0)
        .filter(|c| !mc.single || c.fraction >= max_fraction(&mc.choices) - 1e-9)
        .map(|c| c.text_html.as_str())
        .collect();
    let summary = right.join("; ");
    let selected: Vec<usize> = match r {
        Response::Choice { selected } => {
            let mut s: Vec<usize> = selected.iter().filter_map(|p| order.get(*p).copied()).collect();
            s.sort_unstable();
            s.dedup();
            s
        }
        _ => Vec::new(),
    };
    if mc.single && selected.len() > 1 {
        // Radio buttons cannot send two answers; a forged response scores nothing.
        return graded(0.0, String::new(), summary);
    }
    let mut feedback = String::new();
    let mut sum = 0.0;
    for i in &selected {
        let c = &mc.choices[*i];
        sum += c.fraction;
        if mc.single || c.feedback_html.trim().is_empty() {
            push_feedback(&mut feedback, &c.feedback_html);
        } else {
            // Several choices: each comment goes with its choice, or a pupil cannot tell
            // which comment is about which answer.
            push_feedback(
                &mut feedback,
                &format!(
                    r#"<div class="choice-feedback"><span class="choice">{}</span> — <span class="comment">{}</span></div>"#,
                    c.text_html, c.feedback_html
                ),
            );
        }
    }
    let fraction = if mc.single { sum.clamp(-1.0, 1.0) } else { sum.clamp(0.0, 1.0) };
    push_feedback(&mut feedback, combined_for(&mc.combined, fraction));
    graded(fraction, feedback, summary)
}

fn max_fraction(choices: &[Choice]) -> f64 {
    choices.iter().map(|c| c.fraction).fold(f64::MIN, f64::max)
}

fn best_text_answer(sa: &ShortAnswer) -> Option<String> {
    sa.answers
        .iter()
        .filter(|a| a.fraction > 0.0)
        .max_by(|a, b| a.fraction.total_cmp(&b.fraction).then(std::cmp::Ordering::Greater))
        .map(|a| a.pattern.replace("\\*", "*"))
}

/// Moodle's short-answer comparison: trimmed, `*` matches any run of characters, `\*` is
/// a literal star, case folded unless `case_sensitive`.
pub fn wildcard_match(pattern: &str, response: &str, case_sensitive: bool) -> bool {
    let fold = |s: &str| {
        if case_sensitive { s.to_string() } else { s.to_lowercase() }
    };
    let pattern = fold(pattern.trim());
    let text: Vec<char> = fold(response.trim()).chars().collect();
    // Tokens: Some(c) a literal character, None a wildcard.
    let mut tokens: Vec<Option<char>> = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'*') => {
                chars.next();
                tokens.push(Some('*'));
            }
            '*' => tokens.push(None),
            c => tokens.push(Some(c)),
        }
    }
    // Classic greedy glob match with backtracking to the last star: O(n·m) worst case.
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Some(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(None) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|tok| tok.is_none())
}

/// Splits a numerical response into its number and its unit text. Accepts a decimal
/// comma (French pupils write `3,5`) and a unit before or after the number.
pub fn parse_number_and_unit(text: &str) -> Option<(f64, String)> {
    let s = text.trim();
    let is_num = |c: char| c.is_ascii_digit() || matches!(c, '.' | ',' | '-' | '+' | 'e' | 'E');
    // Find the longest prefix (after an optional leading unit) that parses as a number.
    let start = s.find(|c: char| c.is_ascii_digit() || matches!(c, '.' | ',' | '-' | '+'))?;
    let lead_unit = s[..start].trim();
    let rest = &s[start..];
    let end_candidates: Vec<usize> =
        rest.char_indices().take_while(|(_, c)| is_num(*c)).map(|(i, c)| i + c.len_utf8()).collect();
    for end in end_candidates.into_iter().rev() {
        let raw = &rest[..end];
        let normalised = if raw.contains('.') { raw.replace(',', "") } else { raw.replace(',', ".") };
        if let Ok(v) = normalised.parse::<f64>()
            && v.is_finite()
        {
            let trail = rest[end..].trim();
            let unit = if !lead_unit.is_empty() && trail.is_empty() { lead_unit } else { trail };
            if !lead_unit.is_empty() && !trail.is_empty() {
                return None;
            }
            return Some((v, unit.to_string()));
        }
    }
    None
}

fn score_numerical(n: &Numerical, r: &Response) -> Mark {
    let summary = n
        .answers
        .iter()
        .filter(|a| a.fraction > 0.0)
        .max_by(|a, b| a.fraction.total_cmp(&b.fraction).then(std::cmp::Ordering::Greater))
        .map(|a| match (a.value, n.units.first()) {
            (Some(v), Some(u)) => format!("{} {}", fmt_num(v), u.name),
            (Some(v), None) => fmt_num(v),
            (None, _) => "*".to_string(),
        })
        .unwrap_or_default();
    let text = match r {
        Response::Text { text } => text,
        _ => return graded(0.0, String::new(), summary),
    };
    let Some((raw, unit_text)) = parse_number_and_unit(text) else {
        return graded(0.0, String::new(), summary);
    };
    let (value, unit_ok) = if n.units.is_empty() {
        (raw, unit_text.is_empty())
    } else if unit_text.is_empty() {
        (raw, false)
    } else {
        match n.units.iter().find(|u| u.name.trim() == unit_text) {
            Some(u) if u.multiplier != 0.0 => (raw / u.multiplier, true),
            _ => (raw, false),
        }
    };
    let hit = n.answers.iter().find(|a| match a.value {
        None => true,
        Some(v) => (value - v).abs() <= a.tolerance.abs() + 1e-12 * v.abs().max(1.0),
    });
    match hit {
        Some(a) => {
            let mut fraction = a.fraction;
            if !unit_ok && n.unit_required && !n.units.is_empty() {
                fraction = (fraction - n.unit_penalty).max(0.0);
            }
            graded(fraction, a.feedback_html.clone(), summary)
        }
        None => graded(0.0, String::new(), summary),
    }
}

fn fmt_num(v: f64) -> String {
    let s = format!("{v}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// The options a match question offers, in display order: its distinct answers.
pub fn match_options(qid: &str, m: &Match) -> Vec<String> {
    let mut distinct: Vec<String> = Vec::new();
    for p in &m.pairs {
        if !distinct.contains(&p.answer) {
            distinct.push(p.answer.clone());
        }
    }
    // Always permuted: in stored order the options would line up with their stems.
    let order = display_order(qid, true, distinct.iter().map(String::as_str));
    order.into_iter().map(|i| distinct[i].clone()).collect()
}

/// The stems of a match question (pairs with a non-empty stem), in display order, as
/// indices into `pairs`.
pub fn match_stems(qid: &str, m: &Match) -> Vec<usize> {
    let stems: Vec<usize> = (0..m.pairs.len()).filter(|i| !m.pairs[*i].stem_html.trim().is_empty()).collect();
    let order = display_order(qid, m.shuffle, stems.iter().map(|i| m.pairs[*i].stem_html.as_str()));
    order.into_iter().map(|i| stems[i]).collect()
}

fn score_match(qid: &str, m: &Match, r: &Response) -> Mark {
    let options = match_options(qid, m);
    let stems = match_stems(qid, m);
    let summary = stems
        .iter()
        .map(|i| format!("{} → {}", m.pairs[*i].stem_html, m.pairs[*i].answer))
        .collect::<Vec<_>>()
        .join("; ");
    if stems.is_empty() {
        return graded(0.0, String::new(), summary);
    }
    let chosen: &[Option<usize>] = match r {
        Response::Select { choices } => choices,
        _ => &[],
    };
    let right = stems
        .iter()
        .enumerate()
        .filter(|(pos, pair)| {
            chosen
                .get(*pos)
                .copied()
                .flatten()
                .and_then(|o| options.get(o))
                .is_some_and(|o| *o == m.pairs[**pair].answer)
        })
        .count();
    let fraction = right as f64 / stems.len() as f64;
    graded(fraction, combined_for(&m.combined, fraction).to_string(), summary)
}

fn score_cloze(qid: &str, ma: &MultiAnswer, r: &Response) -> Mark {
    let empty = Vec::new();
    let responses = match r {
        Response::Cloze { parts } => parts,
        _ => &empty,
    };
    let total: f64 = ma.parts.iter().map(|p| p.weight.max(0.0)).sum();
    let mut sum = 0.0;
    let mut feedback = String::new();
    let mut summary = Vec::new();
    for (i, part) in ma.parts.iter().enumerate() {
        let sub_id = format!("{qid}#{}", i + 1);
        let m = score_kind(&sub_id, &part.kind, responses.get(i).unwrap_or(&Response::Empty));
        sum += part.weight.max(0.0) * m.fraction.unwrap_or(0.0).max(0.0);
        push_feedback(&mut feedback, &m.feedback_html);
        summary.push(format!("{}: {}", i + 1, m.right_answer_summary));
    }
    let fraction = if total > 0.0 { (sum / total).clamp(0.0, 1.0) } else { 0.0 };
    graded(fraction, feedback, summary.join("; "))
}

/// The options offered in gap `gap` (0-based), in display order, as indices into `choices`.
pub fn gap_options(qid: &str, g: &Gaps, gap: usize) -> Vec<usize> {
    let Some(group) = g.gaps.get(gap).and_then(|c| g.choices.get(*c)).map(|c| c.group) else {
        return Vec::new();
    };
    let members: Vec<usize> = (0..g.choices.len()).filter(|i| g.choices[*i].group == group).collect();
    let order = display_order(qid, g.shuffle, members.iter().map(|i| g.choices[*i].text.as_str()));
    order.into_iter().map(|i| members[i]).collect()
}

fn score_gaps(qid: &str, g: &Gaps, r: &Response) -> Mark {
    let summary =
        g.gaps.iter().map(|c| g.choices.get(*c).map(|c| c.text.as_str()).unwrap_or("")).collect::<Vec<_>>().join("; ");
    if g.gaps.is_empty() {
        return graded(0.0, String::new(), summary);
    }
    let chosen: &[Option<usize>] = match r {
        Response::Select { choices } => choices,
        _ => &[],
    };
    let right = (0..g.gaps.len())
        .filter(|gap| {
            let options = gap_options(qid, g, *gap);
            chosen.get(*gap).copied().flatten().and_then(|p| options.get(p)) == Some(&g.gaps[*gap])
        })
        .count();
    let fraction = right as f64 / g.gaps.len() as f64;
    graded(fraction, combined_for(&g.combined, fraction).to_string(), summary)
}

/// The order in which a list is shown, as indices into the stored list. Without shuffle,
/// the author's order; with shuffle, a permutation fixed by the question id and the
/// items, so that the box, the public view and the scoring always agree.
pub fn display_order<'a>(qid: &str, shuffle: bool, items: impl Iterator<Item = &'a str>) -> Vec<usize> {
    let keyed: Vec<(Hash, usize)> =
        items.enumerate().map(|(i, text)| (Hash::of(format!("{qid}\u{0}{i}\u{0}{text}").as_bytes()), i)).collect();
    let mut order: Vec<(Hash, usize)> = keyed;
    if shuffle {
        order.sort();
    }
    order.into_iter().map(|(_, i)| i).collect()
}

// ---------------------------------------------------------------------------------------
// What the browser may see before submission.

/// A quiz without any right answer, fraction or per-answer feedback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicQuiz {
    pub id: String,
    pub title: String,
    pub intro_html: String,
    pub max_grade: f64,
    pub attempts_allowed: Option<u32>,
    pub time_limit_secs: Option<u64>,
    pub questions: Vec<PublicQuestion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicQuestion {
    pub id: String,
    pub text_html: String,
    pub mark: f64,
    #[serde(flatten)]
    pub kind: PublicKind,
}

/// The input a pupil gets for each question type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PublicKind {
    MultiChoice { single: bool, choices: Vec<String> },
    TrueFalse,
    ShortAnswer,
    Numerical { units: Vec<String> },
    Match { stems: Vec<String>, options: Vec<String> },
    Essay { response_format: String, template_html: String, min_words: Option<u32>, max_words: Option<u32> },
    Description,
    MultiAnswer { parts: Vec<PublicKind> },
    GapSelect { gaps: Vec<Vec<String>> },
    DdWtos { gaps: Vec<Vec<String>> },
    Random { candidates: Vec<PublicQuestion> },
}

/// The quiz as the browser may see it before submission.
pub fn public_view(quiz: &Quiz) -> PublicQuiz {
    PublicQuiz {
        id: quiz.id.clone(),
        title: quiz.title.clone(),
        intro_html: quiz.intro_html.clone(),
        max_grade: quiz.max_grade,
        attempts_allowed: quiz.attempts_allowed,
        time_limit_secs: quiz.time_limit_secs,
        questions: quiz.questions.iter().map(public_question).collect(),
    }
}

pub fn public_question(q: &Question) -> PublicQuestion {
    PublicQuestion { id: q.id.clone(), text_html: q.text_html.clone(), mark: q.mark, kind: public_kind(&q.id, &q.kind) }
}

fn public_kind(qid: &str, kind: &QuestionKind) -> PublicKind {
    match kind {
        QuestionKind::MultiChoice(mc) => {
            let order = display_order(qid, mc.shuffle, mc.choices.iter().map(|c| c.text_html.as_str()));
            PublicKind::MultiChoice {
                single: mc.single,
                choices: order.into_iter().map(|i| mc.choices[i].text_html.clone()).collect(),
            }
        }
        QuestionKind::TrueFalse(_) => PublicKind::TrueFalse,
        QuestionKind::ShortAnswer(_) => PublicKind::ShortAnswer,
        QuestionKind::Numerical(n) => PublicKind::Numerical { units: n.units.iter().map(|u| u.name.clone()).collect() },
        QuestionKind::Match(m) => PublicKind::Match {
            stems: match_stems(qid, m).into_iter().map(|i| m.pairs[i].stem_html.clone()).collect(),
            options: match_options(qid, m),
        },
        QuestionKind::Essay(e) => PublicKind::Essay {
            response_format: e.response_format.clone(),
            template_html: e.template_html.clone(),
            min_words: e.min_words,
            max_words: e.max_words,
        },
        QuestionKind::Description => PublicKind::Description,
        QuestionKind::MultiAnswer(ma) => PublicKind::MultiAnswer {
            parts: ma
                .parts
                .iter()
                .enumerate()
                .map(|(i, p)| public_kind(&format!("{qid}#{}", i + 1), &p.kind))
                .collect(),
        },
        QuestionKind::GapSelect(g) => PublicKind::GapSelect { gaps: public_gaps(qid, g) },
        QuestionKind::DdWtos(g) => PublicKind::DdWtos { gaps: public_gaps(qid, g) },
        QuestionKind::Random(r) => {
            PublicKind::Random { candidates: r.candidates.iter().map(public_question).collect() }
        }
    }
}

fn public_gaps(qid: &str, g: &Gaps) -> Vec<Vec<String>> {
    (0..g.gaps.len())
        .map(|gap| gap_options(qid, g, gap).into_iter().map(|i| g.choices[i].text.clone()).collect())
        .collect()
}

/// Parses a stored quiz and checks its format version.
pub fn from_json(bytes: &[u8]) -> crate::Result<Quiz> {
    let quiz: Quiz = serde_json::from_slice(bytes)
        .map_err(|e| crate::Error::Malformed { what: "quiz JSON".into(), detail: e.to_string() })?;
    if quiz.format > QUIZ_FORMAT {
        return Err(crate::Error::Malformed {
            what: format!("quiz {:?}", quiz.id),
            detail: format!("format {} is newer than this program understands ({QUIZ_FORMAT})", quiz.format),
        });
    }
    Ok(quiz)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(kind: QuestionKind) -> Question {
        Question {
            id: "q1".into(),
            name: "Q".into(),
            text_html: "?".into(),
            category: String::new(),
            mark: 1.0,
            general_feedback_html: String::new(),
            kind,
        }
    }

    fn choice(text: &str, fraction: f64, fb: &str) -> Choice {
        Choice { text_html: text.into(), fraction, feedback_html: fb.into() }
    }

    fn text(t: &str) -> Response {
        Response::Text { text: t.into() }
    }

    fn frac(m: Mark) -> f64 {
        m.fraction.expect("graded")
    }

    /// Public position of the stored choice `stored` of a multichoice question.
    fn pos_of(question: &Question, stored: usize) -> usize {
        let QuestionKind::MultiChoice(mc) = &question.kind else { panic!() };
        display_order(&question.id, mc.shuffle, mc.choices.iter().map(|c| c.text_html.as_str()))
            .iter()
            .position(|i| *i == stored)
            .unwrap()
    }

    #[test]
    fn multichoice_single_takes_the_chosen_fraction() {
        let question = q(QuestionKind::MultiChoice(MultiChoice {
            single: true,
            shuffle: true,
            choices: vec![choice("Paris", 1.0, "Oui"), choice("Lyon", -0.5, "Non"), choice("Nice", 0.0, "")],
            combined: CombinedFeedback { correct_html: "Bravo".into(), ..Default::default() },
        }));
        let m = score(&question, &Response::Choice { selected: vec![pos_of(&question, 0)] });
        assert_eq!(m.fraction, Some(1.0));
        assert!(m.feedback_html.contains("Oui") && m.feedback_html.contains("Bravo"));
        assert_eq!(m.right_answer_summary, "Paris");
        assert_eq!(frac(score(&question, &Response::Choice { selected: vec![pos_of(&question, 1)] })), -0.5);
        assert_eq!(frac(score(&question, &Response::Choice { selected: vec![pos_of(&question, 2)] })), 0.0);
        // Two radio answers at once are a forged response.
        assert_eq!(frac(score(&question, &Response::Choice { selected: vec![0, 1] })), 0.0);
        // Out of range and wrong shape never panic.
        assert_eq!(frac(score(&question, &Response::Choice { selected: vec![99] })), 0.0);
        assert_eq!(frac(score(&question, &text("Paris"))), 0.0);
    }

    #[test]
    fn multichoice_multiple_sums_and_clamps() {
        let question = q(QuestionKind::MultiChoice(MultiChoice {
            single: false,
            shuffle: false,
            choices: vec![choice("a", 0.5, ""), choice("b", 0.5, ""), choice("c", -1.0, ""), choice("d", 0.333_33, "")],
            combined: CombinedFeedback {
                correct_html: "C".into(),
                partially_correct_html: "P".into(),
                incorrect_html: "I".into(),
            },
        }));
        let sel = |s: &[usize]| score(&question, &Response::Choice { selected: s.to_vec() });
        assert_eq!(frac(sel(&[0, 1])), 1.0);
        assert_eq!(sel(&[0, 1]).feedback_html, "C");
        assert_eq!(frac(sel(&[0])), 0.5);
        assert_eq!(sel(&[0]).feedback_html, "P");
        assert_eq!(frac(sel(&[0, 1, 3])), 1.0, "clamped to 1");
        assert_eq!(frac(sel(&[0, 2])), 0.0, "clamped to 0");
        assert_eq!(sel(&[2]).feedback_html, "I");
        assert_eq!(frac(sel(&[0, 0, 0])), 0.5, "duplicates count once");
        assert_eq!(sel(&[]).fraction, Some(0.0));
        assert_eq!(sel(&[0]).right_answer_summary, "a; b; d");
        // Per-choice comments of a several-answer question each name their choice.
        let mut commented = question.clone();
        if let QuestionKind::MultiChoice(mc) = &mut commented.kind {
            mc.choices[0].feedback_html = "Oui, a".into();
            mc.choices[2].feedback_html = "Non, c".into();
        }
        let fb = score(&commented, &Response::Choice { selected: vec![0, 2] }).feedback_html;
        assert!(fb.contains(r#"<span class="choice">a</span> — <span class="comment">Oui, a</span>"#), "{fb}");
        assert!(fb.contains(r#"<span class="choice">c</span> — <span class="comment">Non, c</span>"#), "{fb}");
    }

    #[test]
    fn truefalse() {
        let question = q(QuestionKind::TrueFalse(TrueFalse {
            correct: false,
            feedback_true_html: "Non, c'est faux".into(),
            feedback_false_html: "Exact".into(),
        }));
        let m = score(&question, &Response::TrueFalse { value: false });
        assert_eq!((m.fraction, m.feedback_html.as_str()), (Some(1.0), "Exact"));
        assert_eq!(frac(score(&question, &Response::TrueFalse { value: true })), 0.0);
        assert_eq!(score(&question, &Response::Empty).right_answer_summary, "Faux");
    }

    #[test]
    fn wildcards_and_case() {
        assert!(wildcard_match("Paris", "  paris ", false));
        assert!(!wildcard_match("Paris", "paris", true));
        assert!(wildcard_match("Par*", "Paris", true));
        assert!(wildcard_match("*ris", "Paris", true));
        assert!(wildcard_match("P*r*s", "Pxxrxxs", true));
        assert!(wildcard_match("*", "", true));
        assert!(!wildcard_match("P*z", "Paris", true));
        assert!(wildcard_match("a\\*b", "a*b", true));
        assert!(!wildcard_match("a\\*b", "axb", true));
        assert!(wildcard_match("ÉLÉA", "éléa", false));
        assert!(!wildcard_match("abc", "abcd", true));
        assert!(wildcard_match("a*b*c", "aXbXbXc", true));
        // Regex metacharacters are literal.
        assert!(!wildcard_match("a.c", "abc", true));
        assert!(wildcard_match("(x+1)^2", "(x+1)^2", true));
    }

    #[test]
    fn shortanswer_first_match_wins() {
        let question = q(QuestionKind::ShortAnswer(ShortAnswer {
            case_sensitive: false,
            answers: vec![
                TextAnswer { pattern: "Victor Hugo".into(), fraction: 1.0, feedback_html: "Oui".into() },
                TextAnswer { pattern: "*Hugo".into(), fraction: 0.5, feedback_html: "Presque".into() },
                TextAnswer { pattern: "*".into(), fraction: 0.0, feedback_html: "Non".into() },
            ],
        }));
        let m = score(&question, &text("victor hugo"));
        assert_eq!((m.fraction, m.feedback_html.as_str()), (Some(1.0), "Oui"));
        assert_eq!(m.right_answer_summary, "Victor Hugo");
        let m = score(&question, &text("V. Hugo"));
        assert_eq!((m.fraction, m.feedback_html.as_str()), (Some(0.5), "Presque"));
        let m = score(&question, &text("Zola"));
        assert_eq!((m.fraction, m.feedback_html.as_str()), (Some(0.0), "Non"));
    }

    #[test]
    fn number_parsing() {
        assert_eq!(parse_number_and_unit("3.5"), Some((3.5, String::new())));
        assert_eq!(parse_number_and_unit(" 3,5 cm"), Some((3.5, "cm".into())));
        assert_eq!(parse_number_and_unit("-1e3m"), Some((-1000.0, "m".into())));
        assert_eq!(parse_number_and_unit("1,000.5"), Some((1000.5, String::new())));
        assert_eq!(parse_number_and_unit("$ 12"), Some((12.0, "$".into())));
        assert_eq!(parse_number_and_unit("douze"), None);
        assert_eq!(parse_number_and_unit(""), None);
        assert_eq!(parse_number_and_unit("e"), None);
    }

    #[test]
    fn numerical_tolerance_and_units() {
        let question = q(QuestionKind::Numerical(Numerical {
            answers: vec![
                NumAnswer { value: Some(1.5), tolerance: 0.1, fraction: 1.0, feedback_html: "Oui".into() },
                NumAnswer { value: Some(2.0), tolerance: 0.0, fraction: 0.5, feedback_html: "".into() },
                NumAnswer { value: None, tolerance: 0.0, fraction: 0.0, feedback_html: "Non".into() },
            ],
            units: vec![Unit { name: "m".into(), multiplier: 1.0 }, Unit { name: "cm".into(), multiplier: 100.0 }],
            unit_required: true,
            unit_penalty: 0.25,
        }));
        assert_eq!(frac(score(&question, &text("1.5 m"))), 1.0);
        assert_eq!(frac(score(&question, &text("1,6 m"))), 1.0, "within tolerance, decimal comma");
        assert_eq!(frac(score(&question, &text("150 cm"))), 1.0, "multiplier");
        assert_eq!(frac(score(&question, &text("1.5"))), 0.75, "missing unit penalty");
        assert_eq!(frac(score(&question, &text("1.5 km"))), 0.75, "unknown unit penalty");
        assert_eq!(frac(score(&question, &text("2 m"))), 0.5);
        let m = score(&question, &text("7 m"));
        assert_eq!((m.fraction, m.feedback_html.as_str()), (Some(0.0), "Non"));
        assert_eq!(frac(score(&question, &text("abc"))), 0.0);
        assert_eq!(m.right_answer_summary, "1.5 m");
        let plain = q(QuestionKind::Numerical(Numerical {
            answers: vec![NumAnswer { value: Some(3.0), tolerance: 2.0, fraction: 1.0, feedback_html: "".into() }],
            units: vec![],
            unit_required: false,
            unit_penalty: 0.0,
        }));
        assert_eq!(frac(score(&plain, &text("5"))), 1.0);
        assert_eq!(frac(score(&plain, &text("1"))), 1.0);
        assert_eq!(frac(score(&plain, &text("5.01"))), 0.0);
        assert_eq!(frac(score(&plain, &text("0.99"))), 0.0);
    }

    fn match_q() -> Question {
        q(QuestionKind::Match(Match {
            pairs: vec![
                MatchPair { stem_html: "Canada".into(), answer: "Ottawa".into() },
                MatchPair { stem_html: "Italie".into(), answer: "Rome".into() },
                MatchPair { stem_html: "Japon".into(), answer: "Tokyo".into() },
                MatchPair { stem_html: "".into(), answer: "Lyon".into() },
            ],
            shuffle: true,
            combined: CombinedFeedback::default(),
        }))
    }

    /// The right response for a match question, built from its public view.
    fn right_match_response(question: &Question) -> Vec<Option<usize>> {
        let PublicKind::Match { stems, options } = public_question(question).kind else { panic!() };
        let QuestionKind::Match(m) = &question.kind else { panic!() };
        stems
            .iter()
            .map(|s| {
                let ans = &m.pairs.iter().find(|p| &p.stem_html == s).unwrap().answer;
                options.iter().position(|o| o == ans)
            })
            .collect()
    }

    #[test]
    fn match_fraction_per_right_pair() {
        let question = match_q();
        let public = public_question(&question);
        let PublicKind::Match { stems, options } = &public.kind else { panic!() };
        assert_eq!(stems.len(), 3, "the extra wrong answer has no stem");
        assert_eq!(options.len(), 4, "but is offered as an option");
        let right = right_match_response(&question);
        assert_eq!(frac(score(&question, &Response::Select { choices: right.clone() })), 1.0);
        let mut two = right.clone();
        two[0] = None;
        assert!((frac(score(&question, &Response::Select { choices: two })) - 2.0 / 3.0).abs() < 1e-9);
        let mut wrong = right.clone();
        wrong[1] = Some(options.iter().position(|o| o == "Lyon").unwrap());
        assert!((frac(score(&question, &Response::Select { choices: wrong })) - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(frac(score(&question, &Response::Select { choices: vec![Some(99)] })), 0.0);
        assert!(score(&question, &Response::Empty).right_answer_summary.contains("Canada → Ottawa"));
    }

    #[test]
    fn cloze_weights_its_parts() {
        let question = q(QuestionKind::MultiAnswer(MultiAnswer {
            parts: vec![
                ClozePart {
                    weight: 1.0,
                    kind: QuestionKind::ShortAnswer(ShortAnswer {
                        case_sensitive: false,
                        answers: vec![TextAnswer { pattern: "chat".into(), fraction: 1.0, feedback_html: "".into() }],
                    }),
                },
                ClozePart {
                    weight: 3.0,
                    kind: QuestionKind::Numerical(Numerical {
                        answers: vec![NumAnswer {
                            value: Some(4.0),
                            tolerance: 0.0,
                            fraction: 1.0,
                            feedback_html: "".into(),
                        }],
                        units: vec![],
                        unit_required: false,
                        unit_penalty: 0.0,
                    }),
                },
            ],
        }));
        let r = |a: &str, b: &str| Response::Cloze { parts: vec![text(a), text(b)] };
        assert_eq!(frac(score(&question, &r("Chat", "4"))), 1.0);
        assert_eq!(frac(score(&question, &r("chien", "4"))), 0.75);
        assert_eq!(frac(score(&question, &r("chat", "5"))), 0.25);
        assert_eq!(frac(score(&question, &Response::Cloze { parts: vec![text("chat")] })), 0.25);
        assert_eq!(frac(score(&question, &Response::Empty)), 0.0);
        assert_eq!(score(&question, &Response::Empty).right_answer_summary, "1: chat; 2: 4");
    }

    #[test]
    fn gaps_by_group() {
        let g = Gaps {
            choices: vec![
                GapChoice { text: "chat".into(), group: 1, infinite: false },
                GapChoice { text: "chien".into(), group: 1, infinite: false },
                GapChoice { text: "mange".into(), group: 2, infinite: false },
                GapChoice { text: "dort".into(), group: 2, infinite: false },
            ],
            gaps: vec![0, 3],
            shuffle: true,
            combined: CombinedFeedback::default(),
        };
        let question = q(QuestionKind::GapSelect(g.clone()));
        let PublicKind::GapSelect { gaps } = public_question(&question).kind else { panic!() };
        assert_eq!(gaps.len(), 2);
        let mut first = gaps[0].clone();
        first.sort();
        assert_eq!(first, vec!["chat", "chien"]);
        let mut second = gaps[1].clone();
        second.sort();
        assert_eq!(second, vec!["dort", "mange"]);
        let right = vec![gaps[0].iter().position(|t| t == "chat"), gaps[1].iter().position(|t| t == "dort")];
        assert_eq!(frac(score(&question, &Response::Select { choices: right.clone() })), 1.0);
        let half = vec![right[0], Some(1 - right[1].unwrap())];
        assert_eq!(frac(score(&question, &Response::Select { choices: half })), 0.5);
        let dd = q(QuestionKind::DdWtos(g));
        assert_eq!(frac(score(&dd, &Response::Select { choices: right })), 1.0);
    }

    #[test]
    fn essay_and_description_are_not_auto_marked() {
        let essay = score(&q(QuestionKind::Essay(Essay::default())), &text("Mon texte"));
        assert_eq!((essay.fraction, essay.needs_grading), (None, true));
        let d = score(&q(QuestionKind::Description), &Response::Empty);
        assert_eq!((d.fraction, d.needs_grading), (None, false));
    }

    #[test]
    fn random_scores_the_drawn_candidate() {
        let cand = q(QuestionKind::TrueFalse(TrueFalse {
            correct: true,
            feedback_true_html: String::new(),
            feedback_false_html: String::new(),
        }));
        let question = q(QuestionKind::Random(Random {
            pool_category: "c".into(),
            include_subcategories: false,
            candidates: vec![cand],
        }));
        let r = |picked| Response::Random { picked, response: Box::new(Response::TrueFalse { value: true }) };
        assert_eq!(frac(score(&question, &r(0))), 1.0);
        assert_eq!(frac(score(&question, &r(1))), 0.0);
    }

    #[test]
    fn general_feedback_is_appended() {
        let mut question = q(QuestionKind::TrueFalse(TrueFalse {
            correct: true,
            feedback_true_html: "A".into(),
            feedback_false_html: "B".into(),
        }));
        question.general_feedback_html = "G".into();
        assert_eq!(score(&question, &Response::TrueFalse { value: true }).feedback_html, "A\nG");
    }

    #[test]
    fn public_view_hides_answers_and_round_trips() {
        let mut questions = vec![match_q()];
        let mut mc = q(QuestionKind::MultiChoice(MultiChoice {
            single: true,
            shuffle: true,
            choices: vec![
                choice("SECRET-FB-choice-right", 1.0, "SECRET-FEEDBACK-1"),
                choice("wrong", 0.0, "SECRET-FEEDBACK-2"),
            ],
            combined: CombinedFeedback { correct_html: "SECRET-COMBINED".into(), ..Default::default() },
        }));
        mc.id = "q2".into();
        mc.general_feedback_html = "SECRET-GENERAL".into();
        questions.push(mc);
        let mut sa = q(QuestionKind::ShortAnswer(ShortAnswer {
            case_sensitive: false,
            answers: vec![TextAnswer { pattern: "SECRET-SA".into(), fraction: 1.0, feedback_html: "".into() }],
        }));
        sa.id = "q3".into();
        questions.push(sa);
        let mut nm = q(QuestionKind::Numerical(Numerical {
            answers: vec![NumAnswer {
                value: Some(987_654.0),
                tolerance: 0.0,
                fraction: 1.0,
                feedback_html: "".into(),
            }],
            units: vec![Unit { name: "kg".into(), multiplier: 1.0 }],
            unit_required: false,
            unit_penalty: 0.0,
        }));
        nm.id = "q4".into();
        questions.push(nm);
        let mut essay =
            q(QuestionKind::Essay(Essay { grader_info_html: "SECRET-GRADER".into(), ..Default::default() }));
        essay.id = "q5".into();
        questions.push(essay);
        let quiz = Quiz {
            format: QUIZ_FORMAT,
            id: "quiz".into(),
            title: "T".into(),
            intro_html: String::new(),
            questions,
            max_grade: 10.0,
            attempts_allowed: None,
            time_limit_secs: None,
            shuffle_questions: false,
            grade_method: GradeMethod::default(),
            review: None,
            overall_feedback: Vec::new(),
        };
        let json = serde_json::to_string(&public_view(&quiz)).unwrap();
        for secret in
            ["SECRET-FEEDBACK", "SECRET-COMBINED", "SECRET-GENERAL", "SECRET-SA", "987654", "SECRET-GRADER", "fraction"]
        {
            assert!(!json.contains(secret), "{secret} leaked: {json}");
        }
        assert!(json.contains("SECRET-FB-choice-right"), "the choices themselves are shown");
        assert!(json.contains("\"kg\""));
        // The stored form round-trips through JSON.
        let stored = serde_json::to_vec(&quiz).unwrap();
        assert_eq!(from_json(&stored).unwrap(), quiz);
        let v: serde_json::Value = serde_json::from_slice(&stored).unwrap();
        assert_eq!(v["questions"][1]["type"], "multichoice");
        let mut newer = v.clone();
        newer["format"] = 99.into();
        assert!(from_json(newer.to_string().as_bytes()).is_err());
    }

    #[test]
    fn every_kind_round_trips_inside_a_question() {
        let tf = q(QuestionKind::TrueFalse(TrueFalse {
            correct: true,
            feedback_true_html: String::new(),
            feedback_false_html: String::new(),
        }));
        let kinds = vec![
            match_q().kind,
            tf.kind.clone(),
            QuestionKind::Essay(Essay::default()),
            QuestionKind::Description,
            QuestionKind::MultiAnswer(MultiAnswer {
                parts: vec![ClozePart {
                    weight: 2.0,
                    kind: QuestionKind::ShortAnswer(ShortAnswer { case_sensitive: true, answers: vec![] }),
                }],
            }),
            QuestionKind::GapSelect(Gaps {
                choices: vec![],
                gaps: vec![],
                shuffle: true,
                combined: Default::default(),
            }),
            QuestionKind::DdWtos(Gaps { choices: vec![], gaps: vec![], shuffle: false, combined: Default::default() }),
            QuestionKind::Random(Random {
                pool_category: "A/B".into(),
                include_subcategories: true,
                candidates: vec![tf],
            }),
        ];
        for kind in kinds {
            let mut question = q(kind);
            question.category = "Cat".into();
            let json = serde_json::to_string(&question).unwrap();
            let back: Question = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
            assert_eq!(back, question);
            let public = serde_json::to_string(&public_question(&question)).unwrap();
            serde_json::from_str::<PublicQuestion>(&public).unwrap_or_else(|e| panic!("{e}: {public}"));
        }
    }

    #[test]
    fn shuffled_order_is_a_fixed_permutation() {
        let items = ["a", "b", "c", "d", "e"];
        let o1 = display_order("q", true, items.iter().copied());
        let o2 = display_order("q", true, items.iter().copied());
        assert_eq!(o1, o2);
        let mut sorted = o1.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
        assert_eq!(display_order("q", false, items.iter().copied()), vec![0, 1, 2, 3, 4]);
    }
}
