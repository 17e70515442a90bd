//! AWS errors as one line a person can act on: what was being done, the service's error code
//! and what it means, and what to do. Every home prints AWS errors this way: the CLI and the
//! Lambda function from `aws-sdk-*` errors ([`from_sdk`]), the component from the error
//! answers it reads itself over `wasi:http` ([`line`]). The SDK's whole error (headers, raw
//! body, source chain) goes to the debug log, never to the one line.

/// What a known AWS error code means, and the usual fix.
fn advice(code: &str) -> Option<(&'static str, &'static str)> {
    Some(match code {
        "NoSuchBucket" => (
            "the bucket does not exist",
            "create it, or correct the bucket in the location",
        ),
        "AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist" => (
            "the queue does not exist",
            "create it, or correct the queue URL",
        ),
        "AccessDenied" | "AccessDeniedException" | "Forbidden" => (
            "access denied",
            "give the credentials in use (AWS_PROFILE, AWS_ACCESS_KEY_ID, or the role) access to it",
        ),
        "InvalidAccessKeyId" | "UnrecognizedClientException" | "InvalidClientTokenId" => (
            "the AWS access key id is not known",
            "check AWS_ACCESS_KEY_ID or AWS_PROFILE",
        ),
        "SignatureDoesNotMatch" | "InvalidSignatureException" => (
            "the AWS secret key does not match the key id",
            "check AWS_SECRET_ACCESS_KEY or AWS_PROFILE",
        ),
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => (
            "the AWS credentials have expired",
            "renew them (e.g. `aws sso login`) and try again",
        ),
        "ResourceNotFoundException" => {
            ("it does not exist", "check its name or ARN, and the region")
        }
        "KMS.NotFoundException" | "KMS.DisabledException" | "KMS.AccessDeniedException" => (
            "the KMS key cannot be used",
            "check --s3-sse kms:<key> and the key's policy, or use --s3-sse aes256",
        ),
        _ => return None,
    })
}

/// `doing: Code: meaning; fix`. `code` is the service's error code (an HTTP status when it
/// sent none), `message` its own text, used when the code is not one [`advice`] knows;
/// `check` names the setting that names the resource (`--queue-url`), the fix when the
/// resource does not exist.
pub fn line(doing: &str, code: &str, message: Option<&str>, check: Option<&str>) -> String {
    let known = advice(code);
    let meaning = match (known, message) {
        (Some((meaning, _)), _) => meaning.to_string(),
        (None, Some(m)) if !m.trim().is_empty() => one_line(m),
        (None, _) => "no message".to_string(),
    };
    let missing = meaning.contains("does not exist");
    let fix = match (known, check) {
        (Some(_), Some(check)) if missing => format!("check {check}"),
        (Some((_, fix)), _) => fix.to_string(),
        (None, _) => "run with AFFINITY_SYNC_LOG=debug for the whole error".to_string(),
    };
    format!("{doing}: {code}: {meaning}; {fix}")
}

/// Text on one line: newlines and runs of spaces become single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The one line for an `aws-sdk-*` error (S3, SQS, Secrets Manager: they share the error
/// type), after logging the whole error at debug level.
#[cfg(feature = "native")]
pub fn from_sdk<E>(
    doing: &str,
    error: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    check: Option<&str>,
) -> anyhow::Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
    tracing::debug!(error = %DisplayErrorContext(error), "{doing}");
    let text = match error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let status = service.raw().status().as_u16();
            let code = match (e.code(), status) {
                (Some(code), _) => code.to_string(),
                (None, 403) => "Forbidden".to_string(),
                (None, status) => format!("HTTP {status}"),
            };
            line(doing, &code, e.message(), check)
        }
        SdkError::TimeoutError(_) => {
            format!("{doing}: timed out; check the network and the endpoint (AWS_ENDPOINT_URL_*)")
        }
        SdkError::DispatchFailure(_) => format!(
            "{doing}: could not reach AWS: {}; check the network, the endpoint \
             (AWS_ENDPOINT_URL_*) and the credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID)",
            innermost(error)
        ),
        _ => format!(
            "{doing}: {}; run with AFFINITY_SYNC_LOG=debug for the whole error",
            innermost(error)
        ),
    };
    anyhow::anyhow!(text)
}

/// The deepest cause in an error's chain, on one line: the part that says what went wrong
/// (`Connection refused`, `no credentials in the chain`) without the layers around it.
#[cfg(feature = "native")]
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest = error;
    while let Some(next) = deepest.source() {
        deepest = next;
    }
    one_line(&deepest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_queue_is_one_line_that_names_the_setting() {
        assert_eq!(
            line(
                "receiving from http://q/1/jobs",
                "AWS.SimpleQueueService.NonExistentQueue",
                Some("The specified queue does not exist.\n  (details)"),
                Some("--queue-url"),
            ),
            "receiving from http://q/1/jobs: AWS.SimpleQueueService.NonExistentQueue: \
             the queue does not exist; check --queue-url"
        );
    }

    #[test]
    fn unknown_codes_keep_the_service_message_on_one_line() {
        assert_eq!(
            line(
                "writing s3://b/k",
                "SlowDown",
                Some("Please\nreduce  your rate"),
                None
            ),
            "writing s3://b/k: SlowDown: Please reduce your rate; \
             run with AFFINITY_SYNC_LOG=debug for the whole error"
        );
        assert_eq!(
            line(
                "writing s3://b/k",
                "SlowDown",
                Some("Reduce your rate"),
                Some("--out")
            ),
            "writing s3://b/k: SlowDown: Reduce your rate; \
             run with AFFINITY_SYNC_LOG=debug for the whole error"
        );
        assert_eq!(
            line(
                "opening s3://b/",
                "AccessDenied",
                Some("Access Denied"),
                Some("--out")
            ),
            "opening s3://b/: AccessDenied: access denied; give the credentials in use \
             (AWS_PROFILE, AWS_ACCESS_KEY_ID, or the role) access to it"
        );
    }
}
