//! Prepares a run (schemas, cases, target, credentials, probe) and turns its cases into
//! libtest-mimic trials; shared by the command line and the `suite` test target.
//!
//! Loading ([`PreparedCases`]) is apart from binding to a target ([`Suite`]), so that many runs
//! (one per seeded fault, say) parse the case files and compile the schemas once.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libtest_mimic::{Completion, Failed, Trial};
use reqwest::Url;
use serde_json::json;

use crate::case::{Case, Level};
use crate::generate::{self, Generation};
use crate::http::{HttpClient, HttpError, HttpSettings};
use crate::loader::{self, LoadError};
use crate::mock::{ConnectionStore, Fault, MockConfig, MockDaemon};
use crate::runner::{Credentials, RunContext, TargetFacts, json_request};
use crate::schema::SchemaSet;

/// The folder the crate was built from; cases, schemas and snapshots default to it when the
/// current folder has none.
pub const SOURCE_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Everything a run is configured with.
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    /// The daemon to check; `None` starts the embedded mock.
    pub target: Option<Url>,
    /// The API key for `ApiKey` handshakes.
    pub api_key: Option<String>,
    /// The daemon's auth file, for `Local` handshakes.
    pub auth_file: Option<PathBuf>,
    /// Timeouts, TLS and the body cap.
    pub http: HttpSettings,
    /// Whether `should` cases fail the run.
    pub strict: bool,
    /// Where snapshots live; `None` means `snapshots/mock` for the embedded mock and no
    /// snapshot checks for other targets.
    pub snapshots: Option<PathBuf>,
    /// The case folder.
    pub cases_dir: PathBuf,
    /// The schema folder.
    pub schemas_dir: PathBuf,
    /// Run only cases with one of these tags (all when empty).
    pub tags: Vec<String>,
    /// Leave out cases with any of these tags.
    pub skip_tags: Vec<String>,
    /// The connections the embedded mock serves instead of its default fixture.
    pub mock_store: Option<ConnectionStore>,
    /// Violations of the document the embedded mock commits on purpose (none by default).
    pub mock_faults: BTreeSet<Fault>,
    /// How many cases to generate from the request models (0 for none).
    pub generated: usize,
    /// The seed the generated cases are drawn from.
    pub seed: u64,
    /// How many cases `verdicts()` and `traces()` run at once.
    pub concurrency: usize,
}

impl Default for SuiteConfig {
    fn default() -> Self {
        Self {
            target: None,
            api_key: None,
            auth_file: None,
            http: HttpSettings::default(),
            strict: false,
            snapshots: None,
            cases_dir: default_dir("cases"),
            schemas_dir: default_dir("schemas"),
            tags: Vec::new(),
            skip_tags: Vec::new(),
            mock_store: None,
            mock_faults: BTreeSet::new(),
            concurrency: 16,
            generated: generate::DEFAULT_COUNT,
            seed: generate::DEFAULT_SEED,
        }
    }
}

/// `name` in the current folder if it is there, else in the source tree.
pub fn default_dir(name: &str) -> PathBuf {
    let local = PathBuf::from(name);
    if local.is_dir() {
        local
    } else {
        Path::new(SOURCE_DIR).join(name)
    }
}

/// Why a run could not start; each kind has its own exit code.
#[derive(Debug)]
pub enum SetupError {
    /// The schemas or the case folder could not be loaded.
    Load(String),
    /// Nothing answers at the target.
    Unreachable(String),
    /// The arguments do not make a run (a bad auth file, say).
    Usage(String),
    /// The embedded mock could not start.
    Mock(String),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Load(m) | SetupError::Unreachable(m) | SetupError::Usage(m) => {
                f.write_str(m)
            }
            SetupError::Mock(m) => write!(f, "cannot start the embedded mock: {m}"),
        }
    }
}

impl std::error::Error for SetupError {}

/// A `should` case that failed without `--strict`: reported, not failing the run.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The trial name.
    pub case: String,
    /// The failure report.
    pub report: String,
}

/// How one case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every step held.
    Passed,
    /// A step failed; the report says which and why.
    Failed(String),
    /// The case could not run against this target, for this reason.
    Ignored(String),
}

/// The verdict on one case.
#[derive(Debug, Clone)]
pub struct CaseVerdict {
    /// The trial name.
    pub name: String,
    /// The case's level (`must` for a file that did not load).
    pub level: Level,
    /// How it ended.
    pub outcome: Outcome,
}

/// A case's verdict and the exchanges it made.
#[derive(Debug, Clone)]
pub struct CaseTrace {
    /// The trial name.
    pub name: String,
    /// The case's level (`must` for a file that did not load).
    pub level: Level,
    /// How it ended.
    pub outcome: Outcome,
    /// What each request got.
    pub exchanges: Vec<crate::runner::Exchange>,
}

impl From<CaseTrace> for CaseVerdict {
    fn from(trace: CaseTrace) -> Self {
        Self {
            name: trace.name,
            level: trace.level,
            outcome: trace.outcome,
        }
    }
}

impl CaseTrace {
    fn without_exchanges(name: String, level: Level, outcome: Outcome) -> Self {
        Self {
            name,
            level,
            outcome,
            exchanges: Vec::new(),
        }
    }
}

/// What runs check with, loaded once and shared by every run bound to it: the compiled schemas,
/// the case files selected by tag, and the generated cases.
pub struct PreparedCases {
    /// The compiled models.
    schemas: Arc<SchemaSet>,
    /// The case files, selected by tag, sorted by trial name.
    files: Vec<Result<Case, LoadError>>,
    /// Where the generator reads the request models.
    schemas_dir: PathBuf,
    /// How many cases to generate, and from which seed.
    generation: Generation,
    /// Run only cases with one of these tags (all when empty).
    tags: Vec<String>,
    /// Leave out cases with any of these tags.
    skip_tags: Vec<String>,
    /// The generated cases of each kind of run met so far. Which bodies are drawn depends on
    /// the kinds of credentials a run has, never on the secrets, so runs against mocks share
    /// one entry.
    generated: Mutex<Vec<GeneratedCases>>,
}

/// The cases generated for runs with one combination of credential kinds.
struct GeneratedCases {
    /// Whether the run has an API key and the daemon's auth file.
    kinds: (bool, bool),
    /// How many were made, which is less than asked when the models give fewer bodies.
    made: usize,
    /// Those the tags select.
    selected: Vec<Result<Case, LoadError>>,
}

impl PreparedCases {
    /// Loads and compiles the schemas and loads the case files of `config`'s folders, keeping
    /// the cases its tags select; cases are generated later, once a run's credentials are known.
    pub fn load(config: &SuiteConfig) -> Result<PreparedCases, SetupError> {
        let schemas =
            SchemaSet::load(&config.schemas_dir).map_err(|e| SetupError::Load(e.to_string()))?;
        let files = loader::load_cases(&config.cases_dir, &schemas)
            .map_err(|e| SetupError::Load(e.to_string()))?;
        Ok(PreparedCases {
            schemas: Arc::new(schemas),
            files: select_by_tags(files, &config.tags, &config.skip_tags),
            schemas_dir: config.schemas_dir.clone(),
            generation: Generation {
                count: config.generated,
                seed: config.seed,
            },
            tags: config.tags.clone(),
            skip_tags: config.skip_tags.clone(),
            generated: Mutex::default(),
        })
    }

    /// The cases of a run with `credentials`: the case files, then the generated cases, with
    /// what was generated.
    fn for_run(&self, credentials: &Credentials) -> (Vec<Result<Case, LoadError>>, Generation) {
        let kinds = (
            credentials.api_key.is_some(),
            credentials.auth_file_content.is_some(),
        );
        // Held while generating, so that runs starting together generate once.
        let mut generated = self.generated.lock().unwrap_or_else(|e| e.into_inner());
        let index = match generated.iter().position(|g| g.kinds == kinds) {
            Some(index) => index,
            None => {
                let made = self.generation.cases(&self.schemas_dir, credentials);
                generated.push(GeneratedCases {
                    kinds,
                    made: made.len(),
                    selected: select_by_tags(made, &self.tags, &self.skip_tags),
                });
                generated.len() - 1
            }
        };
        let entry = &generated[index];
        let cases = self.files.iter().chain(&entry.selected).cloned().collect();
        let generation = Generation {
            count: entry.made,
            ..self.generation
        };
        (cases, generation)
    }
}

/// A prepared run.
pub struct Suite {
    runtime: tokio::runtime::Runtime,
    context: Arc<RunContext>,
    cases: Vec<Result<Case, LoadError>>,
    mock: Option<MockDaemon>,
    strict: bool,
    findings: Arc<Mutex<Vec<Finding>>>,
    generation: Generation,
    /// How many cases `verdicts()` and `traces()` run at once.
    concurrency: usize,
}

impl Suite {
    /// Loads schemas and cases, starts the mock or checks that the target answers, and probes
    /// what the target holds.
    pub fn prepare(config: SuiteConfig) -> Result<Suite, SetupError> {
        let prepared = PreparedCases::load(&config)?;
        Suite::prepare_with(config, &prepared)
    }

    /// [`Suite::prepare`] with the schemas and cases already loaded, for many runs that check
    /// with the same ones. The folders, tags, count and seed `prepared` was loaded with hold;
    /// `config`'s are not read again.
    pub fn prepare_with(
        config: SuiteConfig,
        prepared: &PreparedCases,
    ) -> Result<Suite, SetupError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| SetupError::Mock(format!("cannot start the async runtime: {e}")))?;

        // Find the target: the embedded mock, or the given URL once something listens there.
        let (mock, url, credentials, label) = match &config.target {
            None => {
                let api_key = config.api_key.clone().unwrap_or_else(random_key);
                let mut mock_config = MockConfig::new(api_key.clone());
                if let Some(store) = &config.mock_store {
                    mock_config.store = store.clone();
                }
                mock_config.faults = config.mock_faults.clone();
                let mock = runtime
                    .block_on(MockDaemon::start(mock_config))
                    .map_err(|e| SetupError::Mock(e.to_string()))?;
                let url = Url::parse(&mock.url()).map_err(|e| SetupError::Mock(e.to_string()))?;
                let content = read_auth_file(mock.auth_file())?;
                let credentials = Credentials {
                    api_key: Some(api_key),
                    auth_file_content: Some(content),
                };
                (Some(mock), url, credentials, "mock".to_owned())
            }
            Some(url) => {
                runtime.block_on(check_reachable(url, &config.http))?;
                let auth_file = config.auth_file.clone().or_else(|| {
                    // A daemon on this machine writes its secret here; use it when the user
                    // gave no credentials at all.
                    let default = std::env::temp_dir().join("xpipe_auth");
                    (config.api_key.is_none() && default.is_file()).then(|| {
                        tracing::info!("using the auth file {}", default.display());
                        default
                    })
                });
                if config.api_key.is_none() && auth_file.is_none() {
                    return Err(SetupError::Usage(format!(
                        "no credentials for {url}: pass --api-key (or XPIPE_API_KEY) or \
                         --auth-file (the daemon's $TEMP/xpipe_auth, not found at {})",
                        std::env::temp_dir().join("xpipe_auth").display()
                    )));
                }
                let credentials = Credentials {
                    api_key: config.api_key.clone(),
                    auth_file_content: auth_file.as_deref().map(read_auth_file).transpose()?,
                };
                (None, url.clone(), credentials, url.to_string())
            }
        };
        let client = HttpClient::new(&url, config.http.clone())
            .map_err(|e| SetupError::Usage(format!("cannot build the HTTP client: {e}")))?;

        // The generated cases depend on which credentials the target takes.
        let (cases, generation) = prepared.for_run(&credentials);

        let snapshots = match (&config.snapshots, &mock) {
            (Some(dir), _) => Some(dir.clone()),
            // The mock's snapshots record its default fixture without faults; another store or
            // a seeded fault answers otherwise.
            (None, Some(_)) if config.mock_store.is_none() && config.mock_faults.is_empty() => {
                Some(default_dir("snapshots").join("mock"))
            }
            (None, _) => None,
        };
        let mut context = RunContext {
            client,
            schemas: Arc::clone(&prepared.schemas),
            credentials,
            target: TargetFacts {
                label,
                serves_mock_fixture: mock.is_some() && config.mock_store.is_none(),
                has_connections: None,
            },
            snapshots: snapshots.map(absolute),
            redactor: Default::default(),
        };
        context.target.has_connections = runtime.block_on(probe_connections(&context));
        if context.target.has_connections == Some(false) {
            tracing::info!("the target holds no connections: cases that need some are ignored");
        }

        Ok(Suite {
            runtime,
            context: Arc::new(context),
            cases,
            mock,
            strict: config.strict,
            concurrency: config.concurrency,
            findings: Arc::default(),
            generation,
        })
    }

    /// How many cases were generated, and from which seed.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// What the probe found out about the target.
    pub fn target_facts(&self) -> &TargetFacts {
        &self.context.target
    }

    /// The URL of the target the cases run against.
    pub fn target_url(&self) -> &Url {
        self.context.client.base()
    }

    /// One trial per case, named by its path; cases that cannot run here are ignored with
    /// the reason, and a case file that did not load is a failing trial.
    pub fn trials(&self) -> Vec<Trial> {
        self.cases.iter().map(|case| self.trial(case)).collect()
    }

    fn trial(&self, case: &Result<Case, LoadError>) -> Trial {
        let case = match case {
            Ok(case) => case.clone(),
            Err(error) => {
                let message = format!("the case file does not load: {error}");
                return Trial::test(error.name.clone(), move || Err(Failed::from(message)))
                    .with_kind("broken");
            }
        };
        let name = case.name.clone();
        let kind = case.spec.level.to_string();
        if let Some(reason) = self.context.ignore_reason(&case) {
            return Trial::ignorable_test(name, move || Ok(Completion::ignored_with(reason)))
                .with_kind(kind);
        }

        let context = Arc::clone(&self.context);
        let handle = self.runtime.handle().clone();
        let findings = Arc::clone(&self.findings);
        let strict = self.strict;
        Trial::ignorable_test(name, move || {
            let Err(report) = handle.block_on(generate::run_case(&context, &case)) else {
                return Ok(Completion::Completed);
            };
            if case.spec.level == Level::Should && !strict {
                let first_problem = summary_line(&report);
                findings
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Finding {
                        case: case.name.clone(),
                        report,
                    });
                return Ok(Completion::ignored_with(format!(
                    "should-level finding: {first_problem}"
                )));
            }
            Err(Failed::from(report))
        })
        .with_kind(kind)
    }

    /// Runs every case concurrently, outside libtest-mimic, and returns each verdict in case
    /// order. For programs that embed the suite and need to know which case caught what.
    pub fn verdicts(&self) -> Vec<CaseVerdict> {
        let traces = self.run_cases(Shrinking::On);
        traces.into_iter().map(CaseVerdict::from).collect()
    }

    /// [`Suite::verdicts`] without shrinking failing generated cases: the same outcomes, but
    /// their reports lack the smallest failing case file. For callers that only need to know
    /// which cases fail, since shrinking can take hundreds of requests per case.
    pub fn verdicts_without_shrinking(&self) -> Vec<CaseVerdict> {
        let traces = self.run_cases(Shrinking::Off);
        traces.into_iter().map(CaseVerdict::from).collect()
    }

    /// Runs every case concurrently and returns, in case order, each case's verdict and the
    /// exchanges it made; ignored cases and case files that did not load made none.
    pub fn traces(&self) -> Vec<CaseTrace> {
        self.run_cases(Shrinking::On)
    }

    fn run_cases(&self, shrinking: Shrinking) -> Vec<CaseTrace> {
        // Bounded, so that a slow machine or a slow target is not also flooded; every case
        // still ends within its requests' timeouts.
        let slots = Arc::new(tokio::sync::Semaphore::new(self.concurrency.max(1)));
        self.runtime.block_on(async {
            let mut running = tokio::task::JoinSet::new();
            for (index, case) in self.cases.iter().enumerate() {
                let case = case.clone();
                let context = Arc::clone(&self.context);
                let slots = Arc::clone(&slots);
                running.spawn(async move {
                    let _slot = slots.acquire_owned().await;
                    let case = match case {
                        Ok(case) => case,
                        Err(error) => {
                            let outcome = Outcome::Failed(error.to_string());
                            let trace =
                                CaseTrace::without_exchanges(error.name, Level::Must, outcome);
                            return (index, trace);
                        }
                    };
                    let trace = match context.ignore_reason(&case) {
                        Some(reason) => CaseTrace::without_exchanges(
                            case.name.clone(),
                            case.spec.level,
                            Outcome::Ignored(reason),
                        ),
                        None => {
                            let (verdict, exchanges) = context.run_case_traced(&case).await;
                            let outcome = match (verdict, shrinking) {
                                (Ok(()), _) => Outcome::Passed,
                                (Err(report), Shrinking::On) => Outcome::Failed(
                                    generate::explain_failure(&context, &case, report).await,
                                ),
                                (Err(report), Shrinking::Off) => Outcome::Failed(report),
                            };
                            CaseTrace {
                                name: case.name.clone(),
                                level: case.spec.level,
                                outcome,
                                exchanges,
                            }
                        }
                    };
                    (index, trace)
                });
            }
            let mut traces: Vec<(usize, CaseTrace)> = running.join_all().await;
            traces.sort_by_key(|(index, _)| *index);
            traces.into_iter().map(|(_, trace)| trace).collect()
        })
    }

    /// The target's full listing (`**`, `**`, `*`) as its `found` list, if it gives one.
    pub fn fetch_listing(&self) -> Result<serde_json::Value, String> {
        self.runtime.block_on(async {
            let token = self.context.open_session().await?;
            let body = json!({"categoryFilter": "**", "connectionFilter": "**", "typeFilter": "*"});
            let request = json_request("/connection/query", &body, Some(&token));
            let response = self
                .context
                .client
                .send(&request)
                .await
                .map_err(|e| e.to_string())?;
            let answer = response
                .json()
                .map_err(|why| format!("the listing cannot be read: {why}"))?;
            match answer.get("found") {
                Some(found) if response.status == 200 => Ok(found.clone()),
                _ => Err(format!(
                    "the listing query answered {} without `found`",
                    response.status
                )),
            }
        })
    }

    /// The `should` cases that failed so far without `--strict`.
    pub fn findings(&self) -> Vec<Finding> {
        self.findings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops the embedded mock, if the run started one, and removes its auth file.
    pub fn shutdown(mut self) {
        if let Some(mock) = self.mock.take() {
            self.runtime.block_on(mock.shutdown());
        }
    }
}

/// Whether a failing generated case is shrunk to the smallest case file that fails alike.
#[derive(Debug, Clone, Copy)]
enum Shrinking {
    On,
    Off,
}

/// The most telling line of a failure report: its first listed problem, else its last line.
fn summary_line(report: &str) -> String {
    let line = report
        .lines()
        .find(|l| l.trim_start().starts_with("- "))
        .or_else(|| report.lines().last())
        .unwrap_or(report);
    line.trim().trim_start_matches("- ").to_owned()
}

fn select_by_tags(
    cases: Vec<Result<Case, LoadError>>,
    tags: &[String],
    skip_tags: &[String],
) -> Vec<Result<Case, LoadError>> {
    cases
        .into_iter()
        .filter(|case| match case {
            // A broken file has no tags to select it by; it stays, so it is never lost.
            Err(_) => true,
            Ok(case) => {
                let has = |tag: &String| case.spec.tags.contains(tag);
                (tags.is_empty() || tags.iter().any(has)) && !skip_tags.iter().any(has)
            }
        })
        .collect()
}

fn read_auth_file(path: &Path) -> Result<String, SetupError> {
    std::fs::read_to_string(path).map_err(|e| {
        SetupError::Usage(format!("cannot read the auth file {}: {e}", path.display()))
    })
}

fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

/// A random 128-bit key for the embedded mock, so no fixed secret is ever accepted.
fn random_key() -> String {
    let mut bytes = [0u8; 16];
    // Without an OS random source a fixed key would be guessable; failing loudly is better.
    getrandom::fill(&mut bytes).expect("the OS random source is unavailable");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fails fast, with one clear line, when nothing listens at the target or, for an `https`
/// target, when no TLS connection can be made with it (a plain HTTP daemon, a stalled
/// handshake, a certificate that does not verify): otherwise every case would fail alike.
async fn check_reachable(url: &Url, http: &HttpSettings) -> Result<(), SetupError> {
    check_listening(url, http.connect_limit()).await?;
    if url.scheme() == "https" {
        let client = HttpClient::new(url, http.clone())
            .map_err(|e| SetupError::Usage(format!("cannot build the HTTP client: {e}")))?;
        if let Err(HttpError::Connect(detail)) = client.check_connection().await {
            return Err(SetupError::Unreachable(format!(
                "no TLS connection with {url}: {detail}"
            )));
        }
    }
    Ok(())
}

/// Fails when nothing accepts a TCP connection at the target.
async fn check_listening(url: &Url, connect_timeout: Duration) -> Result<(), SetupError> {
    let unreachable =
        |detail: String| SetupError::Unreachable(format!("nothing listens at {url}: {detail}"));
    let host = url
        .host_str()
        .ok_or_else(|| unreachable("the URL has no host".to_owned()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| unreachable("the URL has no port".to_owned()))?;
    match tokio::time::timeout(
        connect_timeout,
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!(
            "no connection within {:.1} s",
            connect_timeout.as_secs_f64()
        ))),
    }
}

/// Whether the target holds connections, by a handshake and a query for everything; `None`
/// when that fails, so that the cases run and report the failure themselves.
async fn probe_connections(context: &RunContext) -> Option<bool> {
    let token = context.open_session().await.ok()?;
    let body = json!({"categoryFilter": "**", "connectionFilter": "**", "typeFilter": "*"});
    let request = json_request("/connection/query", &body, Some(&token));
    let response = context.client.send(&request).await.ok()?;
    if response.status != 200 {
        return None;
    }
    let answer = response.json().ok()?;
    Some(!answer.get("found")?.as_array()?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case_names(suite: &Suite) -> Vec<String> {
        let name = |case: &Result<Case, LoadError>| match case {
            Ok(case) => case.name.clone(),
            Err(error) => error.name.clone(),
        };
        suite.cases.iter().map(name).collect()
    }

    #[test]
    fn runs_sharing_prepared_cases_get_the_cases_of_a_run_prepared_alone() {
        let alone = Suite::prepare(SuiteConfig::default()).expect("a run against the mock");
        let prepared = PreparedCases::load(&SuiteConfig::default()).expect("the cases load");
        let shared: Vec<Suite> = (0..2)
            .map(|_| Suite::prepare_with(SuiteConfig::default(), &prepared).expect("a run"))
            .collect();

        for suite in &shared {
            assert_eq!(case_names(suite), case_names(&alone));
            assert_eq!(suite.generation(), alone.generation());
        }
        assert!(alone.generation().count > 0, "no case was generated");
        for suite in shared.into_iter().chain([alone]) {
            suite.shutdown();
        }
    }

    #[test]
    fn verdicts_without_shrinking_fail_the_same_cases() {
        // Every malformed body gets a 500, so generated cases fail and would be shrunk.
        let config = SuiteConfig {
            mock_faults: BTreeSet::from([Fault::MalformedRequestGets500]),
            ..SuiteConfig::default()
        };
        let suite = Suite::prepare(config).expect("a run against the faulty mock");
        let failed = |verdicts: Vec<CaseVerdict>| -> Vec<String> {
            verdicts
                .into_iter()
                .filter(|v| matches!(v.outcome, Outcome::Failed(_)))
                .map(|v| v.name)
                .collect()
        };
        let shrunk = failed(suite.verdicts());
        let unshrunk = failed(suite.verdicts_without_shrinking());
        suite.shutdown();

        assert!(
            shrunk
                .iter()
                .any(|name| name.starts_with(generate::NAME_PREFIX)),
            "no generated case failed: {shrunk:?}"
        );
        assert_eq!(unshrunk, shrunk);
    }
}
