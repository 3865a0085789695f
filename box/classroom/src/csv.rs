//! CSV in and out: class lists from the school's software, results to a spreadsheet.
//!
//! Class lists come from ONDE, Pronote or a hand-made spreadsheet: `;`, `,` or tab
//! separated, with or without a header. With `Nom` and `Prénom` columns the box keeps
//! only the first name and the initial of the last name (minimal data about minors).

use super::store::MAX_NAME_CHARS;

/// Largest class list accepted, in rows.
pub const MAX_ROWS: usize = 100;

/// Splits CSV text into records of fields (RFC 4180 quoting).
pub(super) fn records(text: &str, sep: char) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            c if c == sep => record.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                out.push(std::mem::take(&mut record));
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        out.push(record);
    }
    out.retain(|r| r.iter().any(|f| !f.trim().is_empty()));
    out
}

fn norm(s: &str) -> String {
    s.trim().to_lowercase().replace('é', "e").replace(['_', '-'], " ")
}

/// The pupil names of a class list, in order, without duplicates. An error is
/// "French / English" (`html::half` shows a page's half).
pub fn parse_class_list(text: &str) -> Result<Vec<String>, String> {
    let text = text.trim_start_matches('\u{feff}');
    let first_line = text.lines().next().unwrap_or("");
    let sep = [';', '\t', ','].into_iter().max_by_key(|s| first_line.matches(*s).count()).unwrap_or(';');
    let mut rows = records(text, sep);
    if rows.is_empty() {
        return Err("la liste ne contient aucun nom / the file holds no name".into());
    }
    let header: Vec<String> = rows[0].iter().map(|h| norm(h)).collect();
    let find = |names: &[&str]| header.iter().position(|h| names.contains(&h.as_str()));
    let first = find(&["prenom", "prenoms", "first name", "firstname", "given name"]);
    let last = find(&["nom", "nom de famille", "last name", "lastname", "surname", "family name"]);
    let single = find(&["eleve", "name", "nom complet", "pupil", "student"]);
    let has_header = first.is_some() || last.is_some() || single.is_some();
    if has_header {
        rows.remove(0);
    }
    if rows.len() > MAX_ROWS {
        return Err(format!(
            "{n} lignes : {MAX_ROWS} élèves au plus dans une classe / {n} rows: at most {MAX_ROWS} pupils in a class",
            n = rows.len()
        ));
    }
    let mut names = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let cell = |k: Option<usize>| k.and_then(|k| row.get(k)).map(|s| s.trim().to_string()).unwrap_or_default();
        let name = match (first, last) {
            (Some(_), _) => {
                let initial = cell(last).chars().next().map(|c| format!(" {}.", c.to_uppercase())).unwrap_or_default();
                format!("{}{initial}", cell(first))
            }
            (None, Some(_)) if single.is_none() => cell(last),
            _ => cell(single.or(Some(0))),
        };
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            continue;
        }
        if name.chars().count() > MAX_NAME_CHARS {
            let n = i + 1 + has_header as usize;
            return Err(format!(
                "ligne {n} : nom de plus de {MAX_NAME_CHARS} caractères / row {n}: name longer than {MAX_NAME_CHARS} characters"
            ));
        }
        if name.chars().any(char::is_control) {
            let n = i + 1 + has_header as usize;
            return Err(format!("ligne {n} : caractères de contrôle / row {n}: control characters"));
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err("la liste ne contient aucun nom / the file holds no name".into());
    }
    Ok(names)
}

/// One CSV field for export: quoted when needed, and a leading `=`, `+`, `-`, `@` made
/// inert (numbers aside) so that a spreadsheet never runs a pupil's answer as a formula.
pub fn field(s: &str) -> String {
    let s =
        if s.starts_with(['=', '+', '-', '@']) && s.parse::<f64>().is_err() { format!("'{s}") } else { s.to_string() };
    // `;` separates; a decimal comma (French numbers) needs no quotes.
    if s.contains([';', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

/// One CSV line (`;` separated, as French spreadsheets expect).
pub fn line(fields: &[String]) -> String {
    let mut l = fields.iter().map(|f| field(f)).collect::<Vec<_>>().join(";");
    l.push_str("\r\n");
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_list_one_name_per_line() {
        assert_eq!(
            parse_class_list("Alice\nBob\r\n\nAlice\n  Chloé  Dupré \n").unwrap(),
            ["Alice", "Bob", "Chloé Dupré"]
        );
    }

    #[test]
    fn onde_style_export_keeps_first_name_and_initial() {
        let csv = "\u{feff}Nom;Prénom;Date de naissance\nMARTIN;Léa;2015-03-01\n\"DE LA TOUR; fils\";Hugo;2015-06-02\n";
        assert_eq!(parse_class_list(csv).unwrap(), ["Léa M.", "Hugo D."]);
    }

    #[test]
    fn comma_separated_with_a_name_column() {
        let csv = "id,name\n1,\"Zoé \"\"Zozo\"\" B\"\n2,Tom\n";
        assert_eq!(parse_class_list(csv).unwrap(), ["Zoé \"Zozo\" B", "Tom"]);
    }

    #[test]
    fn bounds_and_bad_input() {
        assert!(parse_class_list("").is_err());
        assert!(parse_class_list("Nom;Prénom\n").is_err());
        let many: String = (0..=MAX_ROWS).map(|i| format!("p{i}\n")).collect();
        assert!(parse_class_list(&many).unwrap_err().contains("at most"));
        assert!(parse_class_list(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(parse_class_list("a\u{7}b").is_err());
    }

    #[test]
    fn export_fields_are_quoted_and_inert() {
        assert_eq!(field("a;b"), "\"a;b\"");
        assert_eq!(field("=1+1"), "'=1+1");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(line(&["x".into(), "-2".into(), "-cmd".into()]), "x;-2;'-cmd\r\n");
    }
}
