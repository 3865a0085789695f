//! A parsed form body, shared by the request checks (`web`) and the pages that send a
//! refused form back filled in (`html::Sticky`); it depends on nothing of the app.

/// A parsed `application/x-www-form-urlencoded` body (repeated names kept).
#[derive(Default, Clone)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form(form_urlencoded::parse(body).take(2000).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
    /// A trimmed, non-empty text of at most `max` characters.
    pub fn text(&self, name: &str, max: usize) -> Option<String> {
        let v = self.get(name)?.trim();
        (!v.is_empty() && v.chars().count() <= max).then(|| v.to_string())
    }
}
