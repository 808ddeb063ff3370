//! `lodestone bench --only reads`: the read-side sections alone, on a fresh ledger holding just
//! the registrations and the deep synthetic DAG (1,026 batches): provenance over HTTP, the
//! compliance verdicts ([`super::compliance`]), the console's batch page ([`super::pages`]) and
//! the EPCIS export ([`super::epcis`]). The same sections run inside the full bench after the
//! ingest load; alone they take a minute instead of many, for work on the read path.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::http::{self, AppState};
use crate::synth::{World, DEEP_DAG_LAYERS, DEEP_DAG_WIDTH};

use super::report::Report;
use super::{compliance, epcis, ledger, load, pages};

/// Builds the ledger in `scratch`, serves it on 127.0.0.1:0 and measures the read sections.
pub fn section(report: &mut Report, world: &World, scratch: &Path) -> anyhow::Result<()> {
    eprintln!("bench: reads (registrations and the deep DAG only)");
    let main = ledger::create(&scratch.join("reads-ledger"), world)?;
    let handle = main.service.handle();
    let dag = world.lane(300).deep_dag(DEEP_DAG_WIDTH, DEEP_DAG_LAYERS);
    let root = dag.root.clone();
    ledger::append(&handle, ledger::submissions(world, dag.events))?;
    let nodes = ledger::upstream(&main.service.store, &root)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-server")
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(http::serve(listener, AppState::new(&main.service), async {
        let _ = stopped.await;
    }));

    report.section("reads over HTTP (deep DAG only)");
    let path = format!(
        "/v1/batches/{}/provenance",
        root.as_ref().replace('/', "%2F")
    );
    let provenance = match load::get_latency(&base, &path, 200) {
        Ok(l) => {
            report.row(
                &format!("provenance, {nodes}-node DAG: p50"),
                format!("{:.2} ms", l.p50),
                "< 10 ms",
                Some(l.p50 < 10.0),
            );
            json!({"p50_ms": l.p50, "p99_ms": l.p99})
        }
        Err(status) => json!({"available": false, "status": status}),
    };
    let verdicts = compliance::measure(report, &base, root.as_ref(), nodes);
    report.put(
        "reads",
        json!({"dag": {"root": root.to_string(), "nodes": nodes},
               "provenance": provenance, "compliance": verdicts}),
    );
    pages::section(report, &base, &root, nodes);
    epcis::section(report, &base)?;

    let _ = stop.send(());
    runtime.block_on(server)??;
    runtime.shutdown_timeout(Duration::from_secs(5));
    drop(handle);
    main.service.shutdown();
    Ok(())
}
