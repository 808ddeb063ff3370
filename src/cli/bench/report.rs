//! The report of `lodestone bench`: an aligned table for people (stdout) and a JSON document
//! for tools, built side by side; and the machine it ran on.

use std::fs;

use serde_json::{json, Map, Value};

pub fn machine() -> Value {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|x| x.1.trim())
        })
        .unwrap_or("unknown");
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo.lines().next().unwrap_or_default().to_owned();
    json!({
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "cpu_model": cpu,
        "memory": memory,
        "load_average_at_start": load_average(),
    })
}

pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The table and the JSON document being built.
#[derive(Default)]
pub struct Report {
    rows: Vec<[String; 4]>,
    json: Map<String, Value>,
}

impl Report {
    pub fn section(&mut self, title: &str) {
        self.rows.push([
            format!("— {title}"),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }

    pub fn row(&mut self, measure: &str, figure: String, target: &str, met: Option<bool>) {
        let verdict = match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "",
        };
        self.rows.push([
            measure.to_owned(),
            figure,
            target.to_owned(),
            verdict.to_owned(),
        ]);
    }

    pub fn put(&mut self, key: &str, value: Value) {
        self.json.insert(key.to_owned(), value);
    }

    pub fn print(&self) {
        let mut widths = [0usize; 4];
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let header = ["measure", "figure", "target", ""];
        let line = |cells: &[String; 4]| {
            let [a, b, c, d] = cells;
            println!(
                "{a:<wa$}  {b:>wb$}  {c:<wc$}  {d}",
                wa = widths[0],
                wb = widths[1],
                wc = widths[2]
            );
        };
        line(&header.map(str::to_owned));
        for row in &self.rows {
            line(row);
        }
    }

    /// The JSON document.
    pub fn into_json(self) -> Value {
        Value::Object(self.json)
    }
}

pub fn thousands(x: f64) -> String {
    let n = x.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn mib(kib: Option<u64>) -> f64 {
    kib.unwrap_or(0) as f64 / 1024.0
}
