//! Values as rows, for the `table` and `csv` outputters: a list of dicts
//! is a row per dict; a dict of dicts (`{minion: {...}}`) is a row per key
//! with the key first as `id`; a dict of scalars is a row per key with its
//! value. Anything else has no rows (the outputters fall back to nested).

use serde_json::{Map, Value};

/// Column names (in first-seen order) and the rows' cells as text.
pub struct Rows {
    pub columns: Vec<String>,
    pub cells: Vec<Vec<String>>,
}

/// A cell's text: strings bare, null empty, lists and dicts as JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        other => other.to_string(),
    }
}

fn from_maps(maps: Vec<Map<String, Value>>) -> Rows {
    let mut columns: Vec<String> = Vec::new();
    for m in &maps {
        for k in m.keys() {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let cells = maps
        .iter()
        .map(|m| {
            columns
                .iter()
                .map(|c| m.get(c).map(cell).unwrap_or_default())
                .collect()
        })
        .collect();
    Rows { columns, cells }
}

/// The rows of `value`, if it has a row shape.
pub fn rows_of(value: &Value) -> Option<Rows> {
    match value {
        Value::Array(items) if items.iter().all(Value::is_object) => Some(from_maps(
            items
                .iter()
                .filter_map(|v| v.as_object().cloned())
                .collect(),
        )),
        Value::Object(map) if !map.is_empty() && map.values().all(Value::is_object) => {
            Some(from_maps(
                map.iter()
                    .map(|(k, v)| {
                        let mut row = Map::new();
                        row.insert("id".into(), Value::String(k.clone()));
                        for (ck, cv) in v.as_object().into_iter().flatten() {
                            row.insert(ck.clone(), cv.clone());
                        }
                        row
                    })
                    .collect(),
            ))
        }
        Value::Object(map) if !map.is_empty() => Some(from_maps(
            map.iter()
                .map(|(k, v)| {
                    let mut row = Map::new();
                    row.insert("id".into(), Value::String(k.clone()));
                    row.insert("value".into(), v.clone());
                    row
                })
                .collect(),
        )),
        _ => None,
    }
}

/// An aligned text table with a header line.
pub fn table(rows: &Rows) -> String {
    let widths: Vec<usize> = rows
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let mut out = line(&rows.columns);
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&rule.join("  "));
    out.push('\n');
    for r in &rows.cells {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

/// RFC 4180 CSV with a header line.
pub fn csv(rows: &Rows) -> String {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(&rows.columns);
    for r in &rows.cells {
        let _ = w.write_record(r);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_of_dicts_and_dicts_of_dicts_become_rows() {
        let v = json!([{"id": "web1", "os": "Debian", "mem": 2048}, {"id": "db1", "os": "Rocky, 9", "ok": true}]);
        let rows = rows_of(&v).unwrap();
        assert_eq!(rows.columns, ["id", "os", "mem", "ok"]);
        assert_eq!(
            table(&rows),
            "id    os        mem   ok\n----  --------  ----  ----\nweb1  Debian    2048\ndb1   Rocky, 9        True\n"
        );
        assert_eq!(
            csv(&rows),
            "id,os,mem,ok\nweb1,Debian,2048,\ndb1,\"Rocky, 9\",,True\n"
        );
        let per_minion = rows_of(&json!({"web1": {"os": "Debian"}})).unwrap();
        assert_eq!(per_minion.columns, ["id", "os"]);
        let scalars = rows_of(&json!({"web1": true})).unwrap();
        assert_eq!(scalars.cells, [["web1", "True"]]);
        assert!(rows_of(&json!("text")).is_none());
    }
}
