//! The embedding-model path. Runs when `EMBEDDING_MODEL_DIR` names a model directory
//! (`bench/ai_eval/fetch_model.sh` fetches all-MiniLM-L6-v2); otherwise it says so and
//! passes.

use crate::helpers::{Backend, Options, ids};
use std::io::Write;
use std::path::PathBuf;

fn model_dir() -> Option<PathBuf> {
    match std::env::var("EMBEDDING_MODEL_DIR") {
        Ok(dir) if PathBuf::from(&dir).join("model.safetensors").is_file() => Some(PathBuf::from(dir)),
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "note: ai: skipping the embedding-model test (EMBEDDING_MODEL_DIR is not set; bench/ai_eval/fetch_model.sh fetches it)"
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_model_path_answers_and_keeps_negatives_empty() {
    let Some(dir) = model_dir() else { return };
    let options = Options { model_dir: Some(dir), ..Options::default() };
    let Some(app) = crate::helpers::spawn(Backend::Sqlite, options).await else { return };
    // Vectors are computed in the background after the lexical index is ready.
    let found = testkit::eventually(std::time::Duration::from_secs(60), || async {
        ids(&app.suggest("something to keep my drink warm").await["matches"]).first().map(String::as_str)
            == Some("prod-029")
    })
    .await;
    assert!(
        found,
        "the insulated tumbler answers by meaning: {}",
        app.suggest("something to keep my drink warm").await
    );
    let none = app.suggest("car tires").await;
    assert_eq!(none["matches"], serde_json::json!([]), "{none}");
}
