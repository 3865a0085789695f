//! Shared helpers: finding the real fixtures, and building small synthetic backups.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use preau_import::Imported;

/// A real fixture under the shared fixture root, or None (skip) when absent outside CI:
/// the one rule of `preau_tests::fixture`.
pub fn fixture(sub: &str) -> Option<PathBuf> {
    preau_tests::fixture(sub)
}

/// The bytes of one file of an import's tree.
pub fn file<'a>(imp: &'a Imported, path: &str) -> &'a [u8] {
    let f = imp.tree.files.iter().find(|f| f.path == path).unwrap_or_else(|| {
        let mut all: Vec<&str> = imp.tree.files.iter().map(|f| f.path.as_str()).collect();
        all.sort();
        panic!("{path} not in the tree; it has {all:?}")
    });
    match &f.data {
        preau_pack::SourceData::Bytes(b) => b,
        other => panic!("{path}: unexpected data {other:?}"),
    }
}

pub fn text(imp: &Imported, path: &str) -> String {
    String::from_utf8(file(imp, path).to_vec()).unwrap()
}

pub fn has(imp: &Imported, path: &str) -> bool {
    imp.tree.files.iter().any(|f| f.path == path)
}

/// Every non-`_preau/` file as text (for "no answer leaks" checks).
pub fn served_text(imp: &Imported) -> String {
    let mut all = String::new();
    for f in &imp.tree.files {
        if f.path.starts_with("_preau/") {
            continue;
        }
        if let preau_pack::SourceData::Bytes(b) = &f.data {
            all.push_str(&String::from_utf8_lossy(b));
        }
    }
    all
}

pub fn write_tar_gz(path: &Path, members: &[(String, Vec<u8>)]) {
    let f = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap().flush().unwrap();
}

pub fn write_zip(path: &Path, members: &[(String, Vec<u8>)]) {
    let f = std::fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in members {
        z.start_file(name.as_str(), opts).unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
}

fn m(name: &str, body: &str) -> (String, Vec<u8>) {
    (name.to_string(), body.as_bytes().to_vec())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn activity(modname: &str, cmid: u32, ctx: u32, inner: &str) -> Vec<(String, Vec<u8>)> {
    vec![
        m(
            &format!("activities/{modname}_{cmid}/module.xml"),
            &format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<module id=\"{cmid}\"><modulename>{modname}</modulename><visible>1</visible></module>"
            ),
        ),
        m(
            &format!("activities/{modname}_{cmid}/{modname}.xml"),
            &format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<activity id=\"1\" moduleid=\"{cmid}\" modulename=\"{modname}\" contextid=\"{ctx}\"><{modname} id=\"1\">{inner}</{modname}></activity>"
            ),
        ),
    ]
}

pub const IMAGE: &[u8] = b"\x89PNG\r\n\x1a\nfake image bytes";
pub const IMAGE_HASH: &str = "0123456789abcdef0123456789abcdef01234567";

/// A small Moodle 4.1-style course backup written by hand from Moodle's backup format:
/// two sections, a page with an image, TeX, a script and an internal link, a label, an
/// external URL, a forum, a quiz (multichoice + truefalse + cloze), an assignment, a
/// book and a hidden page.
pub fn synthetic_backup() -> Vec<(String, Vec<u8>)> {
    let acts = [
        ("label", 12, 1, "Bienvenue"),
        ("page", 11, 1, "Première page"),
        ("url", 13, 2, "Site du ministère"),
        ("forum", 14, 2, "Forum de la classe"),
        ("quiz", 15, 2, "Test de fin de chapitre"),
        ("assign", 16, 2, "Rédaction"),
        ("book", 17, 2, "Le livre"),
        ("page", 18, 2, "Page cachée"),
    ];
    let mut listed = String::new();
    for (modname, cmid, section, title) in acts {
        listed.push_str(&format!(
            "<activity><moduleid>{cmid}</moduleid><sectionid>{section}</sectionid><modulename>{modname}</modulename><title>{title}</title><directory>activities/{modname}_{cmid}</directory></activity>"
        ));
    }
    let mut out = vec![
        m(
            "moodle_backup.xml",
            &format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<moodle_backup><information><name>demo.mbz</name><moodle_release>4.1.2 (Build: 20230306)</moodle_release><original_wwwroot>https://elea.example</original_wwwroot><original_course_fullname>Cours de démonstration</original_course_fullname><original_course_contextid>20</original_course_contextid><contents><activities>{listed}</activities><sections><section><sectionid>1</sectionid><title>0</title><directory>sections/section_1</directory></section><section><sectionid>2</sectionid><title>Chapitre 1</title><directory>sections/section_2</directory></section></sections><course><courseid>2</courseid><title>demo</title><directory>course</directory></course></contents></information></moodle_backup>"
            ),
        ),
        m(
            "course/course.xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<course id=\"2\" contextid=\"20\"><shortname>demo-svt</shortname><fullname>Cours de démonstration</fullname><summary>&lt;p&gt;Un cours pour les tests.&lt;/p&gt;</summary><lang>fr</lang></course>",
        ),
        m(
            "sections/section_1/section.xml",
            "<section id=\"1\"><number>0</number><name>$@NULL@$</name><summary></summary><sequence>12,11</sequence><visible>1</visible></section>",
        ),
        m(
            "sections/section_2/section.xml",
            &format!(
                "<section id=\"2\"><number>1</number><name>Chapitre 1</name><summary>{}</summary><sequence>13,14,15,16,17,18</sequence><visible>1</visible></section>",
                esc("<p>Les cellules.</p>")
            ),
        ),
        m(
            "files.xml",
            &format!(
                "<files><file id=\"1\"><contenthash>{IMAGE_HASH}</contenthash><contextid>31</contextid><component>mod_page</component><filearea>content</filearea><itemid>0</itemid><filepath>/</filepath><filename>image un.png</filename><mimetype>image/png</mimetype></file><file id=\"2\"><contenthash>da39a3ee5e6b4b0d3255bfef95601890afd80709</contenthash><contextid>31</contextid><component>mod_page</component><filearea>content</filearea><itemid>0</itemid><filepath>/</filepath><filename>.</filename></file></files>"
            ),
        ),
        (format!("files/01/{IMAGE_HASH}"), IMAGE.to_vec()),
    ];
    out.extend(activity(
        "page",
        11,
        31,
        &format!(
            "<name>Première page</name><intro></intro><content>{}</content>",
            esc("<p>La formule \\(E=mc^2\\) et $$a^2+b^2$$.</p><img src=\"@@PLUGINFILE@@/image%20un.png\" alt=\"schéma\"><script>alert(1)</script><p><a href=\"$@URLVIEWBYID*13@$\">le lien</a> et <a href=\"$@COURSEVIEWBYID*2@$\">le cours</a></p>")
        ),
    ));
    out.extend(activity(
        "label",
        12,
        32,
        &format!("<name>Bienvenue</name><intro>{}</intro>", esc("<p>Bienvenue dans le cours !</p>")),
    ));
    out.extend(activity(
        "url",
        13,
        33,
        "<name>Site du ministère</name><intro></intro><externalurl>https://www.education.gouv.fr/</externalurl>",
    ));
    out.extend(activity(
        "forum",
        14,
        34,
        &format!("<name>Forum de la classe</name><intro>{}</intro>", esc("<p>Posez vos questions.</p>")),
    ));
    out.extend(activity(
        "quiz",
        15,
        35,
        "<name>Test de fin de chapitre</name><intro></intro><timelimit>0</timelimit><attempts_number>2</attempts_number><grade>20.00000</grade><question_instances>\
         <question_instance id=\"1\"><slot>1</slot><page>1</page><maxmark>2.0000000</maxmark><question_reference id=\"1\"><questionbankentryid>1</questionbankentryid><version>$@NULL@$</version></question_reference></question_instance>\
         <question_instance id=\"2\"><slot>2</slot><page>1</page><maxmark>1.0000000</maxmark><question_reference id=\"2\"><questionbankentryid>2</questionbankentryid><version>$@NULL@$</version></question_reference></question_instance>\
         <question_instance id=\"3\"><slot>3</slot><page>1</page><maxmark>1.0000000</maxmark><question_reference id=\"3\"><questionbankentryid>3</questionbankentryid><version>$@NULL@$</version></question_reference></question_instance>\
         <question_instance id=\"4\"><slot>4</slot><page>2</page><maxmark>1.0000000</maxmark><question_set_reference id=\"1\"><questionscontextid>35</questionscontextid><filtercondition>{&quot;filter&quot;:{&quot;category&quot;:{&quot;jointype&quot;:1,&quot;values&quot;:[5],&quot;filteroptions&quot;:{&quot;includesubcategories&quot;:false}}}}</filtercondition></question_set_reference></question_instance>\
         </question_instances>",
    ));
    out.extend(activity(
        "assign",
        16,
        36,
        &format!(
            "<name>Rédaction</name><intro>{}</intro><plugin_configs>\
             <plugin_config><plugin>onlinetext</plugin><subtype>assignsubmission</subtype><name>enabled</name><value>1</value></plugin_config>\
             <plugin_config><plugin>file</plugin><subtype>assignsubmission</subtype><name>enabled</name><value>1</value></plugin_config>\
             <plugin_config><plugin>file</plugin><subtype>assignsubmission</subtype><name>maxfilesubmissions</name><value>2</value></plugin_config>\
             <plugin_config><plugin>file</plugin><subtype>assignsubmission</subtype><name>maxsubmissionsizebytes</name><value>1048576</value></plugin_config>\
             <plugin_config><plugin>file</plugin><subtype>assignsubmission</subtype><name>filetypeslist</name><value>.pdf,.odt</value></plugin_config>\
             </plugin_configs>",
            esc("<p>Décrivez une cellule.</p>")
        ),
    ));
    out.extend(activity(
        "book",
        17,
        37,
        &format!(
            "<name>Le livre</name><intro></intro><chapters><chapter id=\"2\"><pagenum>2</pagenum><subchapter>0</subchapter><title>Deuxième</title><content>{}</content><hidden>0</hidden></chapter><chapter id=\"1\"><pagenum>1</pagenum><subchapter>0</subchapter><title>Premier</title><content>{}</content><hidden>0</hidden></chapter></chapters>",
            esc("<p>Chapitre deux.</p>"),
            esc("<p>Chapitre un.</p>")
        ),
    ));
    let mut hidden = activity("page", 18, 38, "<name>Page cachée</name><intro></intro><content>secret</content>");
    hidden[0].1 = b"<module id=\"18\"><modulename>page</modulename><visible>0</visible></module>".to_vec();
    out.extend(hidden);
    let q = |id: u32, be: u32, parent: u32, qtype: &str, name: &str, text: &str, plugin: &str| {
        format!(
            "<question_bank_entry id=\"{be}\"><questioncategoryid>5</questioncategoryid><question_version><question_versions id=\"{be}\"><version>1</version><status>ready</status><questions><question id=\"{id}\"><parent>{parent}</parent><name>{name}</name><questiontext>{}</questiontext><generalfeedback></generalfeedback><defaultmark>1.0000000</defaultmark><qtype>{qtype}</qtype>{plugin}</question></questions></question_versions></question_version></question_bank_entry>",
            esc(text)
        )
    };
    let mc = "<plugin_qtype_multichoice_question><answers><answer id=\"1\"><answertext>&lt;p&gt;Noyau&lt;/p&gt;</answertext><fraction>1.0000000</fraction><feedback>SECRET-FEEDBACK-OUI</feedback></answer><answer id=\"2\"><answertext>&lt;p&gt;Paroi&lt;/p&gt;</answertext><fraction>0.0000000</fraction><feedback>Non</feedback></answer></answers><multichoice id=\"1\"><single>1</single><shuffleanswers>1</shuffleanswers><correctfeedback>Bravo</correctfeedback><partiallycorrectfeedback></partiallycorrectfeedback><incorrectfeedback></incorrectfeedback></multichoice></plugin_qtype_multichoice_question>";
    let tf = "<plugin_qtype_truefalse_question><answers><answer id=\"3\"><answertext>True</answertext><fraction>0.0000000</fraction><feedback></feedback></answer><answer id=\"4\"><answertext>False</answertext><fraction>1.0000000</fraction><feedback>Exact</feedback></answer></answers><truefalse id=\"1\"><trueanswer>3</trueanswer><falseanswer>4</falseanswer></truefalse></plugin_qtype_truefalse_question>";
    let sa = "<plugin_qtype_shortanswer_question><answers><answer id=\"5\"><answertext>mitochondrie</answertext><fraction>1.0000000</fraction><feedback></feedback></answer></answers><shortanswer id=\"1\"><usecase>0</usecase></shortanswer></plugin_qtype_shortanswer_question>";
    let cloze = "<plugin_qtype_multianswer_question><answers></answers><multianswer id=\"1\"><question>7</question><sequence>8</sequence></multianswer></plugin_qtype_multianswer_question>";
    let questions = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<question_categories><question_category id=\"5\"><name>Défaut pour le test</name><contextid>35</contextid><parent>0</parent><question_bank_entries>{}{}{}{}</question_bank_entries></question_category></question_categories>",
        q(1, 1, 0, "multichoice", "Organite", "<p>Où est l'ADN ?</p>", mc),
        q(2, 2, 0, "truefalse", "Vrai ou faux", "<p>Une bactérie a un noyau.</p>", tf),
        q(7, 3, 0, "multianswer", "Texte à trous", "<p>L'énergie vient de la {#1}.</p>", cloze),
        q(8, 4, 7, "shortanswer", "Texte à trous", "{1:SA:=mitochondrie}", sa),
    );
    out.push(m("questions.xml", &questions));
    out
}

/// The imported tree is accepted by the pack builder (paths, collisions, entry page, id)
/// and reads back byte for byte.
pub fn assert_builds(imp: &Imported) {
    let dir = tempfile::tempdir().unwrap();
    let key = preau_pack::sign::SecretKey::generate();
    let opts = preau_pack::build::BuildOptions { level: 1, ..Default::default() };
    let summary = preau_pack::build::build(dir.path(), imp.tree.clone(), &key, &opts, &mut |_, _| {})
        .unwrap_or_else(|e| panic!("the pack builder refused the import: {e}"));
    assert_eq!(summary.files as usize, imp.tree.files.len());
}
