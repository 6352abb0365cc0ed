//! Round trip over the whole corpus: de-normalise each expected history (payload objects back to
//! JSON text, numeric timestamps, identity placeholders back to the case's names), normalise it
//! with the case's own steps and compare with the expected history.

use cordon_conformance::compare::{Observed, strict};
use cordon_conformance::normalise::{denormalise_history, normalise_history};

#[test]
fn expected_histories_round_trip() {
    let dir = cordon_conformance::default_corpus_dir();
    assert!(
        dir.is_dir(),
        "the ASL conformance corpus is missing: looked for {}; it is `../shared/asl-conformance` \
         beside the clone (CI has it)",
        dir.display()
    );
    let files = cordon_conformance::load_dir(&dir).expect("corpus loads");
    let (mut total, mut ok) = (0, 0);
    let mut failures = Vec::new();
    for case in files.iter().flat_map(|f| &f.cases) {
        let Some(expected) = &case.expected.history else {
            continue;
        };
        total += 1;
        let raw = denormalise_history(case, expected);
        let history = normalise_history(&case.normalization_steps, &raw).expect("normalises");
        let obs = Observed {
            status: case.expected.status.clone(),
            history,
        };
        match strict(case, &obs) {
            None => ok += 1,
            Some(d) => failures.push(format!("{}: {}", case.id, d)),
        }
    }
    for f in failures.iter().take(40) {
        eprintln!("round trip: {f}");
    }
    eprintln!("round trip: {ok}/{total}");
    // The corpus README: all but a few cases whose values the simple de-normaliser cannot invert.
    assert!(
        ok * 100 >= total * 95,
        "only {ok}/{total} expected histories round-trip"
    );
}
