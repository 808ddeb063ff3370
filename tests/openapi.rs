//! The OpenAPI document (issue 10, point 9) against the code and a real server: it is OpenAPI
//! 3.1 whose every `$ref` resolves and whose every schema compiles; every route is registered
//! through the one route table, so none can be missing from it; the strict-query and
//! content-type rules hold on every operation it lists; real responses of a server on the seed
//! scenario validate against the schemas the document declares for them; and the problem
//! codes' statuses agree with docs/API.md.

use crate::common;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use common::{Reply, TestServer};
use lodestone::http::openapi;
use lodestone::model::ids::Timestamp;
use lodestone::model::keys::SecretKeyFile;
use lodestone::scenario::Scenario;

/// Loads the seed scenario into `server`'s ledger; returns the envelopes as sent.
fn seed(server: &TestServer) -> Vec<Value> {
    let text = std::fs::read_to_string(server.data.authority_key()).unwrap();
    let (file, key) = SecretKeyFile::parse(&text).unwrap();
    let authority = file.actor.unwrap().parse().unwrap();
    let now_ms = chrono::Utc::now().timestamp_millis() as u64;
    let envelopes: Vec<Value> = Scenario::builtin()
        .unwrap()
        .rebased(&Timestamp::from_unix_millis(now_ms - now_ms % 1000).unwrap())
        .unwrap()
        .envelopes(&authority, &key)
        .unwrap()
        .iter()
        .map(|e| e.to_json_value())
        .collect();
    let body = serde_json::to_vec(&json!({ "envelopes": envelopes })).unwrap();
    let answer = server.post("/v1/entries:batch", &body).assert_json(200);
    assert_eq!(answer["rejected"], 0, "{answer}");
    envelopes
}

/// The document as the server serves it.
fn served(server: &TestServer) -> Value {
    server.get("/openapi.json").assert_json(200)
}

/// Resolves a local `$ref` (`#/a/b`) in `doc`.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                out.push(r.clone());
            }
            o.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// Every operation: `(path, method, operation)`.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            all.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    all
}

/// A validator for `schema` (a schema inside the document), with the document's components
/// in reach of its `$ref`s.
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = schema.clone();
    root["components"] = doc["components"].clone();
    jsonschema::draft202012::new(&root)
        .unwrap_or_else(|e| panic!("schema does not compile: {e}\n{schema}"))
}

#[test]
fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let server = TestServer::start();
    let doc = served(&server);
    assert_eq!(
        doc,
        openapi::document().json,
        "the server serves the built document"
    );
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 50, "only {} references", all.len());
    for reference in &all {
        assert!(
            resolve(&doc, reference).is_some(),
            "`{reference}` does not resolve"
        );
    }

    // Nothing under `paths` is null: OpenAPI has no nullable fields there (a `null` where an
    // array or object belongs makes the whole operation unusable to tools).
    fn no_nulls(value: &Value, at: &str) {
        match value {
            Value::Null => panic!("null at {at}"),
            Value::Object(o) => o
                .iter()
                .for_each(|(k, v)| no_nulls(v, &format!("{at}/{k}"))),
            Value::Array(a) => a.iter().for_each(|v| no_nulls(v, at)),
            _ => {}
        }
    }
    no_nulls(&doc["paths"], "paths");

    let mut ids = BTreeSet::new();
    for (path, method, operation) in operations(&doc) {
        let what = format!("{} {path}", method.to_uppercase());
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(
            ids.insert(id.to_owned()),
            "{what}: operationId `{id}` is not unique"
        );
        // Path templates and path parameters name the same things.
        let in_template: BTreeSet<String> = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split('}').next().map(str::to_owned))
            .collect();
        let declared: BTreeSet<String> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(p["required"], true, "{what}: path parameter not required");
                p["name"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(in_template, declared, "{what}: path parameters");
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{what}: no success response"
        );
        for (status, response) in responses {
            assert!(response["description"].is_string(), "{what} {status}");
            for (media, content) in response["content"].as_object().into_iter().flatten() {
                // Every schema compiles with the components in reach.
                let _ = validator(&doc, &content["schema"]);
                if media == "application/problem+json" {
                    let codes = content["schema"]["properties"]["code"]["enum"]
                        .as_array()
                        .unwrap_or_else(|| panic!("{what} {status}: problem without codes"));
                    for code in codes {
                        let code = code.as_str().unwrap();
                        let expected = lodestone::http::error::status_of(code).unwrap();
                        assert_eq!(expected.as_str(), status, "{what}: `{code}` under {status}");
                    }
                }
            }
        }
    }
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        let _ = validator(
            &doc,
            &json!({ "$ref": format!("#/components/schemas/{name}") }),
        );
        assert!(schema.is_object(), "component {name}");
    }
}

/// Route registrations outside the route table would be routes the document does not know.
#[test]
fn routes_are_registered_only_through_the_route_table() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut files = vec![];
    let mut pending = vec![dir];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 10);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for forbidden in [".route(", ".route_service(", ".nest(", ".nest_service("] {
            assert!(
                !text.contains(forbidden),
                "{} calls `{forbidden}`: add routes in src/http/openapi.rs with \
                 `.routes(routes!(handler))` (docs/DESIGN.md §5.1)",
                file.display()
            );
        }
    }
}

/// A path for `template` with each parameter replaced by its example (or `x`).
fn concrete(template: &str, operation: &Value) -> String {
    let mut path = template.to_owned();
    for p in operation["parameters"].as_array().into_iter().flatten() {
        if p["in"] == "path" {
            let name = p["name"].as_str().unwrap();
            let example = p["example"].as_str().or(p["schema"]["example"].as_str());
            path = path.replace(&format!("{{{name}}}"), example.unwrap_or("x"));
        }
    }
    path
}

fn request_raw(
    server: &TestServer,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
) -> Reply {
    let agent = ureq::AgentBuilder::new().max_idle_connections(0).build();
    let request = agent.request(method, &server.url(path));
    let result = match body {
        Some((content_type, bytes)) => request.set("content-type", content_type).send_bytes(bytes),
        None => request.call(),
    };
    let response = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let status = response.status();
    let content_type = response.header("content-type").unwrap_or("").to_owned();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut body).unwrap();
    Reply {
        status,
        content_type,
        cache_control: None,
        headers: vec![],
        body,
    }
}

#[test]
fn every_documented_operation_is_routed_and_follows_the_query_and_body_rules() {
    let server = TestServer::start();
    seed(&server);
    let doc = served(&server);
    let size = || server.log().size;
    let before = size();
    let mut strict = 0;
    for (template, method, operation) in operations(&doc) {
        let method = method.to_uppercase();
        let path = concrete(&template, &operation);
        let what = format!("{method} {path}");
        let lenient = operation["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| openapi::LENIENT_TAGS.contains(&t.as_str().unwrap()));
        let json_body = operation["requestBody"]["content"]["application/json"].is_object();
        let body = json_body.then_some(("application/json", &b"{}"[..]));

        // Routed, and through the guard: never the fallback, never the undocumented-route 500.
        let plain = request_raw(&server, &method, &path, body);
        assert!(
            plain.status != 405 && plain.status != 500,
            "{what}: {} {}",
            plain.status,
            plain.text()
        );
        if plain.status == 404 {
            assert!(
                !plain.text().contains("no such route"),
                "{what} is not routed"
            );
        }

        let probed = request_raw(&server, &method, &format!("{path}?bogus=1"), body);
        if lenient {
            assert_eq!(
                probed.status, plain.status,
                "{what}?bogus=1 on a lenient route"
            );
        } else {
            probed.assert_problem(400, "bad_query");
            strict += 1;
        }
        if json_body {
            for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
                request_raw(&server, &method, &path, Some((content_type, b"{}")))
                    .assert_problem(415, "unsupported_media_type");
            }
        }
    }
    assert!(strict >= 18, "only {strict} strict operations");
    assert_eq!(size(), before, "no probe wrote anything");

    // Numbers in paths are canonical.
    for path in [
        "/v1/entries/01",
        "/v1/entries/+1",
        "/v1/entries/01/proof",
        "/v1/entries/1%20/proof",
    ] {
        server.get(path).assert_problem(400, "bad_path");
    }
}

/// Validates a real reply against what the document declares for its operation and status.
#[track_caller]
fn check(doc: &Value, template: &str, method: &str, reply: &Reply) {
    let what = format!("{} {template} → {}", method.to_uppercase(), reply.status);
    let response = &doc["paths"][template][method]["responses"][reply.status.to_string()];
    assert!(
        response.is_object(),
        "{what}: status not declared; body {}",
        reply.text()
    );
    let media = reply.content_type.split(';').next().unwrap().trim();
    let content = &response["content"][media];
    assert!(
        content.is_object(),
        "{what}: content type {media} not declared"
    );
    if media.ends_with("json") {
        let instance: Value = reply.json();
        let validator = validator(doc, &content["schema"]);
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{what}:\n{}", errors.join("\n"));
    }
}

#[test]
fn real_responses_validate_against_their_declared_schemas() {
    let server = TestServer::start();
    let envelopes = seed(&server);
    let doc = served(&server);
    let size = server.log().size;
    let gets = [
        ("/v1/log", "/v1/log".to_owned()),
        ("/v1/entries", "/v1/entries?limit=5".into()),
        ("/v1/entries", format!("/v1/entries?start={}", size - 2)),
        ("/v1/entries/{index}", "/v1/entries/3?proof=5".into()),
        ("/v1/entries/{index}", "/v1/entries/0".into()),
        ("/v1/entries/{index}", format!("/v1/entries/{size}")),
        ("/v1/entries/{index}", "/v1/entries/3?proof=2".into()),
        ("/v1/entries/{index}/proof", "/v1/entries/3/proof".into()),
        (
            "/v1/proofs/inclusion",
            "/v1/proofs/inclusion?index=3&size=5".into(),
        ),
        (
            "/v1/proofs/inclusion",
            format!("/v1/proofs/inclusion?index=1&size={}", size + 1),
        ),
        (
            "/v1/proofs/consistency",
            "/v1/proofs/consistency?from=2&to=5".into(),
        ),
        (
            "/v1/proofs/consistency",
            "/v1/proofs/consistency?from=5&to=2".into(),
        ),
        ("/v1/actors", "/v1/actors".into()),
        ("/v1/actors/{id}", "/v1/actors/lynas".into()),
        ("/v1/actors/{id}", "/v1/actors/Not_An_Id".into()),
        ("/v1/actors/{id}", "/v1/actors/nobody-here".into()),
        ("/v1/witnesses", "/v1/witnesses".into()),
        ("/readyz", "/readyz".into()),
        ("/healthz", "/healthz".into()),
        ("/checkpoint", "/checkpoint".into()),
        ("/tile/{path}", "/tile/0/000.p/5".into()),
        ("/tile/{path}", "/tile/0/001".into()),
        ("/tile/{path}", "/tile/0/00".into()),
        ("/openapi.json", "/openapi.json".into()),
        ("/", "/".into()),
        ("/v1/log", "/v1/log?bogus=1".into()),
    ];
    for (template, path) in &gets {
        check(&doc, template, "get", &server.get(path));
    }
    for (_, batch) in Scenario::featured_batches() {
        let id = batch.as_str();
        for (template, path) in [
            ("/v1/batches/{id}", format!("/v1/batches/{id}")),
            (
                "/v1/batches/{id}/provenance",
                format!("/v1/batches/{id}/provenance"),
            ),
            (
                "/v1/batches/{id}/provenance",
                format!("/v1/batches/{id}/provenance?dag=false"),
            ),
            (
                "/v1/batches/{id}/downstream",
                format!("/v1/batches/{id}/downstream"),
            ),
            ("/batches/{id}", format!("/batches/{id}")),
        ] {
            check(&doc, template, "get", &server.get(&path));
        }
        let bundle = server.get(&format!("/v1/batches/{id}/bundle"));
        check(&doc, "/v1/batches/{id}/bundle", "get", &bundle);
        check(
            &doc,
            "/v1/verify",
            "post",
            &server.post("/v1/verify", &bundle.body),
        );
    }
    check(
        &doc,
        "/v1/batches/{id}",
        "get",
        &server.get("/v1/batches/NO-SUCH-BATCH"),
    );
    check(
        &doc,
        "/v1/sites/{id}/downstream",
        "get",
        &server.get("/v1/sites/mount-weld/downstream"),
    );
    check(
        &doc,
        "/v1/sites/{id}/downstream",
        "get",
        &server.get("/v1/sites/nowhere/downstream"),
    );
    check(
        &doc,
        "/v1/verify",
        "post",
        &server.post("/v1/verify", b"[1, 2]"),
    );

    // Writes: an identical retry (200 and the receipt), a refusal, a batch with both.
    let first = serde_json::to_vec(&envelopes[1]).unwrap();
    check(
        &doc,
        "/v1/entries",
        "post",
        &server.post("/v1/entries", &first),
    );
    check(
        &doc,
        "/v1/entries",
        "post",
        &server.post("/v1/entries", b"{}"),
    );
    let mut forged = envelopes[2].clone();
    forged["signatures"][0]["sig"] = json!(common::b64(&[7; 64]));
    check(
        &doc,
        "/v1/entries",
        "post",
        &server.post("/v1/entries", &serde_json::to_vec(&forged).unwrap()),
    );
    let batch = json!({"envelopes": [envelopes[1], forged, {"payloadType": 1}]});
    let reply = server.post("/v1/entries:batch", &serde_json::to_vec(&batch).unwrap());
    assert_eq!(reply.json()["accepted"], 1, "{}", reply.text());
    check(&doc, "/v1/entries:batch", "post", &reply);
    check(
        &doc,
        "/v1/entries:batch",
        "post",
        &server.post("/v1/entries:batch", b"{\"other\": []}"),
    );
    assert_eq!(server.log().size, size, "nothing new was written");
}

#[test]
fn problem_code_statuses_agree_with_the_api_docs() {
    let api = include_str!("../docs/API.md");
    let mut rows = 0;
    for line in api.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let (Some(code), Ok(status)) = (
            cells[1].strip_prefix('`').and_then(|c| c.strip_suffix('`')),
            cells[2].parse::<u16>(),
        ) else {
            continue;
        };
        let known = lodestone::http::error::status_of(code)
            .unwrap_or_else(|| panic!("docs/API.md lists `{code}`, which no error has"));
        assert_eq!(
            known.as_u16(),
            status,
            "`{code}`: docs/API.md says {status}"
        );
        rows += 1;
    }
    assert!(rows > 50, "only {rows} code rows in docs/API.md");
}

/// Every `DESIGN.md §N` cited in the code and the docs names a section docs/DESIGN.md has.
#[test]
fn design_references_resolve() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let design = std::fs::read_to_string(root.join("docs/DESIGN.md")).unwrap();
    // Sections are headings (`### 3.1 Validation`) and numbered items (`- **2.1 Signed events**`).
    let sections: BTreeSet<String> = design
        .lines()
        .filter_map(|l| {
            l.strip_prefix('#')
                .map(|h| h.trim_start_matches('#'))
                .or_else(|| l.strip_prefix("- **"))
        })
        .filter_map(|l| l.split_whitespace().next())
        .map(|n| n.trim_end_matches('.').to_owned())
        .filter(|n| n.starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    let mut files = vec![root.join("README.md")];
    let mut pending = vec![root.join("src"), root.join("docs"), root.join("tests")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs" || e == "md") {
                files.push(path);
            }
        }
    }
    let mut cited = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices("DESIGN.md §") {
            let rest = &text[at + "DESIGN.md §".len()..];
            let number: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let number = number.trim_end_matches('.');
            if number.is_empty() {
                continue; // this test's own pattern, not a citation
            }
            assert!(
                sections.contains(number),
                "{} cites DESIGN.md §{number}, which docs/DESIGN.md does not have",
                file.display()
            );
            cited += 1;
        }
    }
    assert!(cited > 20, "only {cited} citations found");
}
