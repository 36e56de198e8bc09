//! Writes the window's sections into `config.toml`'s text, keeping everything else: the
//! sections the window does not own, comments, and the formatting of every value that did
//! not change (toml_edit).

use toml_edit::{DocumentMut, Item, Table};

use super::store::{OWNED, Sections};

/// The keys of a window destination (the rest of a `[[destination]]` table is kept).
const DESTINATION_KEYS: &[&str] = &["name", "service", "server", "whip", "id", "enabled"];

/// `old` (a valid config file, or empty) with the window's sections set to `new`.
pub fn merge(old: &str, new: &Sections) -> String {
    let mut doc: DocumentMut = old.parse().unwrap_or_default();
    let fresh = to_document(new);
    for key in OWNED {
        let Some(item) = fresh.get(key) else {
            doc.remove(key);
            continue;
        };
        let same = doc.get(key).is_some_and(|o| equal(key, o, item));
        if same {
            continue;
        }
        let mut item = item.clone();
        clear_positions(&mut item);
        if *key == "destination" {
            item = destinations(doc.get(key), &item);
        }
        if let Some(old) = doc.get(key) {
            keep_place(old, &mut item);
        }
        doc.insert(key, item);
    }
    let mut text = doc.to_string();
    if !text.ends_with('\n') && !text.is_empty() {
        text.push('\n');
    }
    text
}

/// `new` as a document with `version` first.
fn to_document(new: &Sections) -> DocumentMut {
    let text = toml::to_string_pretty(new).unwrap_or_default();
    text.parse().unwrap_or_default()
}

/// Whether two items hold the same values (whatever their formatting).
fn equal(key: &str, a: &Item, b: &Item) -> bool {
    value(key, a) == value(key, b)
}

fn value(key: &str, item: &Item) -> Option<toml::Value> {
    let mut doc = DocumentMut::new();
    doc.insert(key, item.clone());
    let table: toml::Table = toml::from_str(&doc.to_string()).ok()?;
    table.get(key).cloned()
}

/// Tables of a new item follow the table before them (the display sorts by position).
fn clear_positions(item: &mut Item) {
    fn table(t: &mut Table) {
        t.set_position(None);
        for (_, v) in t.iter_mut() {
            clear_positions(v);
        }
    }
    match item {
        Item::Table(t) => table(t),
        Item::ArrayOfTables(a) => a.iter_mut().for_each(table),
        _ => {}
    }
}

/// A replaced table stays where it was, with the comments above it.
fn keep_place(old: &Item, new: &mut Item) {
    match (old, new) {
        (Item::Table(o), Item::Table(n)) => {
            *n.decor_mut() = o.decor().clone();
            n.set_position(o.position());
        }
        (Item::ArrayOfTables(o), Item::ArrayOfTables(n)) => {
            if let (Some(o), Some(n)) = (o.get(0), n.get_mut(0)) {
                *n.decor_mut() = o.decor().clone();
                n.set_position(o.position());
            }
        }
        (Item::Value(o), Item::Value(n)) => *n.decor_mut() = o.decor().clone(),
        _ => {}
    }
}

/// The new `[[destination]]` array: each old window destination updated in place (its other
/// keys, such as `ca_file`, and its comments kept) or dropped when the window deleted it; the
/// destinations written with their key kept where they were; new ones at the end.
fn destinations(old: Option<&Item>, new: &Item) -> Item {
    let Some(new) = new.as_array_of_tables() else {
        return new.clone();
    };
    let id = |t: &Table| t.get("id").and_then(|v| v.as_integer());
    let window =
        |t: &Table| id(t).is_some() && !["key", "url", "token"].iter().any(|k| t.contains_key(k));
    let mut out = toml_edit::ArrayOfTables::new();
    let mut used = vec![false; new.len()];
    if let Some(old) = old.and_then(Item::as_array_of_tables) {
        for o in old.iter() {
            if !window(o) {
                // Kept; `new` ends with the same entries (as read), which are skipped below.
                if let Some(i) = new
                    .iter()
                    .enumerate()
                    .position(|(i, n)| !used[i] && !window(n) && same_table(n, o))
                {
                    used[i] = true;
                }
                out.push(o.clone());
                continue;
            }
            let Some(i) = new.iter().position(|n| window(n) && id(n) == id(o)) else {
                continue;
            };
            used[i] = true;
            let mut t = o.clone();
            for k in DESTINATION_KEYS {
                match new.get(i).and_then(|n| n.get(k)) {
                    Some(v)
                        if t.get(k).map(|x| x.to_string().trim().to_owned())
                            != Some(v.to_string().trim().to_owned()) =>
                    {
                        t.insert(k, v.clone());
                    }
                    Some(_) => {}
                    None => {
                        t.remove(k);
                    }
                }
            }
            out.push(t);
        }
    }
    for (i, n) in new.iter().enumerate() {
        if !used[i] && window(n) {
            out.push(n.clone());
        }
    }
    Item::ArrayOfTables(out)
}

/// Whether a file-only destination read back (only its name is serialized) is this table.
fn same_table(n: &Table, o: &Table) -> bool {
    n.get("name").and_then(|v| v.as_str()) == o.get("name").and_then(|v| v.as_str())
}
