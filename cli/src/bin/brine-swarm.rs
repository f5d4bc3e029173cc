//! `brine-swarm`: N minions from one command, for measuring masters at
//! fleet size. Reads the same config as `brine-minion -c DIR`; each minion
//! gets its own id (`--id-prefix` plus its index), key, certificate,
//! grains and sessions (see `brine_minion::swarm`). Where descriptors do not
//! allow one process to hold them all (two per minion per master), it
//! starts several processes of itself, each running a slice of the fleet.

use std::process::{Child, Command, ExitCode};
use std::time::Duration;

use brine_cli::entry::{ConfigDirArg, EX_USAGE};
use brine_minion::swarm::{shards, SwarmSpec};
use brine_minion::swarm_events::{EventCounts, EventLoad};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "brine-swarm",
    version,
    about = "Run many minions in one process (benchmarks at fleet size)"
)]
struct Args {
    #[command(flatten)]
    config: ConfigDirArg,
    /// How many minions.
    #[arg(long)]
    count: usize,
    /// Ids are this prefix followed by the minion's index.
    #[arg(long, default_value = "swarm-")]
    id_prefix: String,
    /// Index of the first minion (to split one fleet over several swarms).
    #[arg(long, default_value_t = 0)]
    first: usize,
    /// Digits of the index in ids (default: enough for the last one).
    #[arg(long)]
    width: Option<usize>,
    /// A grain template KEY=V1,V2,...: minion i gets V[i mod n]. Repeatable.
    #[arg(long = "grain", value_name = "KEY=V1,V2")]
    grains: Vec<String>,
    /// Milliseconds between starting two minions (0: all at once).
    #[arg(long, default_value_t = 0)]
    stagger_ms: u64,
    /// Give each minion its own request-connection source address, from
    /// this one upwards (e.g. 127.1.0.1), as a real fleet has.
    #[arg(long)]
    source_net: Option<std::net::Ipv4Addr>,
    /// Most minions per process (default: what the open-files limit allows).
    #[arg(long)]
    per_process: Option<usize>,
    /// Events each minion sends per second (0: none), spread with jitter,
    /// through its own session as `event.send` would (bus benchmarks).
    #[arg(long, default_value_t = 0.0)]
    event_rate: f64,
    /// The tag of those events.
    #[arg(long, default_value = brine_minion::swarm_events::DEFAULT_TAG)]
    event_tag: String,
    /// Each minion also sends a diskusage beacon event for `/` every
    /// --beacon-interval seconds, alternately above and below 90 %.
    #[arg(long)]
    flap_beacon: bool,
    /// Seconds between two events of the flapping beacon.
    #[arg(long, default_value_t = 1.0)]
    beacon_interval: f64,
    /// Log level: error, warning, info, debug, trace.
    #[arg(short = 'l', long = "log-level", default_value = "warning")]
    log_level: String,
}

/// Set in the environment of the processes a sharded swarm starts.
const CHILD_MARK: &str = "BRINE_SWARM_SLICE";

/// How often a swarm sending events reports its counts on stderr.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// Descriptors kept free in each process for spool files, DNS, logs.
const SPARE_FDS: u64 = 512;

fn parse_grain(spec: &str) -> Result<(String, Vec<String>), String> {
    let (key, values) = spec
        .split_once('=')
        .ok_or_else(|| format!("--grain {spec:?}: expected KEY=V1,V2,..."))?;
    if key.is_empty() || values.is_empty() {
        return Err(format!("--grain {spec:?}: expected KEY=V1,V2,..."));
    }
    Ok((
        key.to_string(),
        values.split(',').map(str::to_string).collect(),
    ))
}

/// The soft open-files limit raised to the hard one; returns it.
fn raise_open_files() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Err(_) => 1024,
    }
}

fn main() -> ExitCode {
    let args: Args = brine_cli::entry::parse_args();
    args.config.check_or_exit("brine-swarm");
    brine_cli::logging::check_level_or_exit("brine-swarm", &args.log_level);
    let grains = match args
        .grains
        .iter()
        .map(|g| parse_grain(g))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(g) => g,
        Err(e) => {
            eprintln!("brine-swarm: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    if !(args.event_rate.is_finite() && args.event_rate >= 0.0) {
        eprintln!("brine-swarm: --event-rate must be a number of events per second, 0 or more");
        return ExitCode::from(EX_USAGE);
    }
    if !(args.beacon_interval.is_finite() && args.beacon_interval >= 0.001) {
        eprintln!("brine-swarm: --beacon-interval must be 0.001 seconds or more");
        return ExitCode::from(EX_USAGE);
    }
    if args.event_tag.is_empty() {
        eprintln!("brine-swarm: --event-tag must not be empty");
        return ExitCode::from(EX_USAGE);
    }
    let config = match brine_minion::config::MinionConfig::load(&args.config.config_dir) {
        Ok(c) => c,
        Err(error) => {
            eprintln!("brine-swarm: {error}");
            return ExitCode::from(EX_USAGE);
        }
    };
    if let Err(error) = brine_cli::logging::init(&args.log_level, config.log_file.as_deref()) {
        eprintln!("brine-swarm: {error:#}");
        return ExitCode::from(1);
    }
    let limit = raise_open_files();
    // Two sockets per master, and room for a reconnection and a spool
    // file in flight.
    let per_minion = 2 * config.masters.len().max(1) as u64 + 1;
    let fits = (limit.saturating_sub(SPARE_FDS) / per_minion).max(1) as usize;
    let most = args.per_process.unwrap_or(fits).min(fits).max(1);
    // as many processes as needed, evenly filled
    let processes = args.count.div_ceil(most).max(1);
    let per_process = args.count.div_ceil(processes).max(1);
    let last = args.first + args.count.saturating_sub(1);
    let width = args.width.unwrap_or_else(|| last.to_string().len());
    if args.count > per_process {
        return run_shards(&args, per_process, width);
    }
    let spec = SwarmSpec {
        first: args.first,
        count: args.count,
        width,
        id_prefix: args.id_prefix.clone(),
        grains,
        stagger: Duration::from_millis(args.stagger_ms),
        source_net: args.source_net,
        events: EventLoad {
            rate: args.event_rate,
            tag: args.event_tag.clone(),
            flap_beacon: args
                .flap_beacon
                .then(|| Duration::from_secs_f64(args.beacon_interval)),
            counts: Default::default(),
        },
    };
    if spec.events.is_active() {
        let counts = spec.events.counts.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(REPORT_EVERY);
            report_events(&counts);
        });
    }
    // A slice of a sharded swarm ends with the swarm that started it.
    if std::env::var_os(CHILD_MARK).is_some() {
        let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("brine-swarm: cannot start the runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let (active, counts) = (spec.events.is_active(), spec.events.counts.clone());
    match rt.block_on(brine_minion::swarm::run(
        config,
        spec,
        brine_cli::entry::shutdown_signal(),
    )) {
        Ok(()) => {
            if active {
                report_events(&counts);
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("brine-swarm: {error}");
            ExitCode::from(1)
        }
    }
}

/// One line a bench script reads: this process's counts so far.
fn report_events(counts: &EventCounts) {
    let (sent, beacons, unsent) = counts.snapshot();
    eprintln!(
        "brine-swarm: events pid={} sent={sent} beacons={beacons} unsent={unsent}",
        std::process::id()
    );
}

/// Runs the fleet as several processes of this program, each with a slice
/// (`--first`, `--count`), until a signal ends them all.
fn run_shards(args: &Args, per_process: usize, width: usize) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(error) => {
            eprintln!("brine-swarm: cannot find my own program: {error}");
            return ExitCode::from(1);
        }
    };
    let mut children: Vec<Child> = Vec::new();
    for (offset, count) in shards(args.count, per_process) {
        let mut cmd = Command::new(&exe);
        cmd.env(CHILD_MARK, "1");
        cmd.arg("-c")
            .arg(&args.config.config_dir)
            .args(["--count", &count.to_string()])
            .args(["--first", &(args.first + offset).to_string()])
            .args(["--width", &width.to_string()])
            .args(["--id-prefix", &args.id_prefix])
            .args(["--stagger-ms", &args.stagger_ms.to_string()])
            .args(["--per-process", &count.to_string()])
            .args(["-l", &args.log_level])
            .args(["--event-rate", &args.event_rate.to_string()])
            .args(["--event-tag", &args.event_tag])
            .args(["--beacon-interval", &args.beacon_interval.to_string()]);
        if args.flap_beacon {
            cmd.arg("--flap-beacon");
        }
        for g in &args.grains {
            cmd.args(["--grain", g]);
        }
        if let Some(net) = args.source_net {
            // each slice continues the address range where the last ended
            let spec = SwarmSpec {
                first: 0,
                count: 0,
                width,
                id_prefix: String::new(),
                grains: Vec::new(),
                stagger: Duration::ZERO,
                source_net: Some(net),
                events: EventLoad::default(),
            };
            if let Some(std::net::IpAddr::V4(start)) = spec.source_address(offset) {
                cmd.args(["--source-net", &start.to_string()]);
            }
        }
        match cmd.spawn() {
            Ok(child) => children.push(child),
            Err(error) => {
                eprintln!("brine-swarm: cannot start a swarm process: {error}");
                for mut c in children {
                    let _ = c.kill();
                }
                return ExitCode::from(1);
            }
        }
    }
    eprintln!(
        "brine-swarm: {} minions in {} processes of at most {per_process}",
        args.count,
        children.len()
    );
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("brine-swarm: cannot start the runtime: {error}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(brine_cli::entry::shutdown_signal());
    for c in &children {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    for mut c in children {
        let _ = c.wait();
    }
    ExitCode::SUCCESS
}
