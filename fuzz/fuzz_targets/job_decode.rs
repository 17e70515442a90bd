//! Queue messages: any bytes decode to a job (or a refresh) or to an error, never a panic;
//! what decodes encodes back to the same message; a signed decode never accepts bytes the
//! fuzzer made up unless they carry the right MAC (which it cannot forge).
#![no_main]

use affinity_sync_core::changes::Refresh;
use affinity_sync_core::job::{Job, JobSecret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(job) = Job::decode(data) {
        let again = Job::decode(job.encode().as_bytes()).expect("an encoded job decodes");
        assert_eq!(again, job);
    }
    let secret = JobSecret::new(b"fuzz-secret-0123456789abcdef-0123").expect("a long secret");
    if let Ok(job) = Job::decode_from_queue(data, Some(&secret)) {
        // Only a message signed with the secret gets here: re-signing must give it back.
        let signed = job.encode_for_queue(Some(&secret));
        assert_eq!(
            Job::decode_from_queue(signed.as_bytes(), Some(&secret)).unwrap(),
            job
        );
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(r) = Refresh::decode(text) {
            assert_eq!(Refresh::decode(&r.encode()).unwrap(), r);
        }
        let _ = Refresh::decode_from_queue(text, Some(&secret));
    }
});
