//! `m2mhub device …`: a device from the command line, through the device SDK: make a key
//! pair, send a signed message (HTTP or MQTT), print what arrives in a device's inbox.

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use m2mhub_client::{
    Client, Device, Transport,
    http::HttpTransport,
    keys::DeviceKey,
    mqtt::{BrokerConfig, MqttSettings, MqttTransport},
    verifier::Verifier,
};
use m2mhub_core::message::Action;

/// Device subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Make a device key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub (public key, hex).
    Keygen {
        /// Path prefix of the two files, e.g. `keys/door-lock`.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a message with a device's key and send it; prints the hub's record as JSON.
    Send(SendArgs),
    /// Print each message delivered to a device's inbox (m2m/in/NAME), one JSON line each.
    Listen(ListenArgs),
}

/// Where the hub is: HTTP or a broker.
#[derive(Debug, clap::Args)]
pub struct HubArgs {
    /// The hub's HTTP API.
    #[arg(long, default_value = "http://127.0.0.1:8080", conflicts_with = "mqtt")]
    pub url: String,
    /// Send over MQTT through this broker instead: mqtt://host:port or mqtts://…
    #[arg(long)]
    pub mqtt: Option<String>,
    /// PEM file of the CA certificates to trust for mqtts://.
    #[arg(long, requires = "mqtt")]
    pub mqtt_ca: Option<PathBuf>,
}

/// `m2mhub device send` options.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// The sending device's name.
    #[arg(long)]
    pub name: String,
    /// Its key's path prefix (PREFIX.key; the counter is kept in PREFIX.counter).
    #[arg(long)]
    pub key: PathBuf,
    /// The receiving device.
    #[arg(long)]
    pub to: String,
    /// begin, continue or end.
    #[arg(long, default_value = "begin")]
    pub action: String,
    /// The transaction (for continue and end).
    #[arg(long)]
    pub tx: Option<u64>,
    /// The seq of the message that caused this one.
    #[arg(long)]
    pub cause: Option<u64>,
    /// The contents.
    #[arg(long, default_value = "")]
    pub contents: String,
    #[command(flatten)]
    pub hub: HubArgs,
    #[command(flatten)]
    pub check: CheckArgs,
}

/// Checking what the hub answers against its signed checkpoint (the SDK's outside verifier).
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The hub's verifier key (`GET /v1/key`, a line `origin+hash+base64`, or a file holding
    /// it), pinned: each record is checked against a checkpoint it signed, through the HTTP API
    /// at --verify-url, before it is printed.
    #[arg(long)]
    pub hub_key: Option<String>,
    /// The hub's HTTP API, for the checkpoint and proofs --hub-key checks against.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub verify_url: String,
}

impl CheckArgs {
    /// The verifier asked for, if any.
    fn verifier(&self) -> anyhow::Result<Option<Verifier>> {
        let Some(k) = &self.hub_key else {
            return Ok(None);
        };
        let line = match std::fs::read_to_string(k) {
            Ok(text) => text,
            Err(_) => k.clone(),
        };
        let v = Verifier::new(HttpTransport::new(&self.verify_url), line.trim())
            .context("--hub-key is not a verifier key")?;
        Ok(Some(v))
    }
}

/// `m2mhub device listen` options.
#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// The device whose inbox to print.
    #[arg(long)]
    pub name: String,
    /// The broker: mqtt://host:port or mqtts://…
    #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
    pub mqtt: String,
    /// PEM file of the CA certificates to trust for mqtts://.
    #[arg(long)]
    pub mqtt_ca: Option<PathBuf>,
    /// The device's key path prefix (PREFIX.key), to sign its CONNECT (SPEC §5.2); needed
    /// whenever the broker authenticates devices.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Stop after this many messages (default: run until interrupted).
    #[arg(long)]
    pub count: Option<u64>,
    /// With --hub-key, each delivery is printed only once its record is in a checkpoint the
    /// hub signed and its signature verifies with the sender's key in force at its seq; one
    /// that does not is told on stderr and makes the exit status 1.
    #[command(flatten)]
    pub check: CheckArgs,
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Keygen { out } => {
            let key = DeviceKey::generate()?;
            key.save(&out)?;
            let public = key.public_hex();
            println!("{public}");
            eprintln!(
                "secret key in {}, public key in {}; register it with\n  curl -H \"Authorization: Bearer $TOKEN\" -d '{{\"name\":\"NAME\",\"clearance\":1,\"public_key\":\"{public}\"}}' -H 'Content-Type: application/json' http://127.0.0.1:8080/v1/devices",
                DeviceKey::secret_path(&out).display(),
                DeviceKey::public_path(&out).display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Send(a) => tokio::runtime::Runtime::new()?.block_on(send(a)),
        Command::Listen(a) => tokio::runtime::Runtime::new()?.block_on(listen(a)),
    }
}

fn broker(url: &str, ca: Option<&PathBuf>) -> anyhow::Result<BrokerConfig> {
    let mut b = BrokerConfig::parse(url)?;
    b.ca_file = ca.cloned();
    if let Ok(pass) = std::env::var("M2MHUB_MQTT_PASSWORD") {
        b.password = Some(pass);
    }
    Ok(b)
}

async fn send(a: SendArgs) -> anyhow::Result<ExitCode> {
    let action = Action::parse(&a.action).context("--action must be begin, continue or end")?;
    if action != Action::Begin && a.tx.is_none() {
        bail!("--action {action} needs --tx");
    }
    // One message per run: reserve one counter value at a time, so none is skipped.
    let device = Device::open_with_reserve(&a.name, &a.key, 1)?;
    let transport = match &a.hub.mqtt {
        Some(url) => Transport::Mqtt(Arc::new(
            MqttTransport::connect(
                &broker(url, a.hub.mqtt_ca.as_ref())?,
                &a.name,
                Some(device.key()),
                MqttSettings::default(),
            )
            .await?,
        )),
        None => Transport::Http(HttpTransport::new(&a.hub.url)),
    };
    let verifier = a.check.verifier()?;
    let client = Client::new(device, transport);
    let record = client
        .send(&a.to, action, a.tx.unwrap_or(0), a.cause, &a.contents)
        .await?;
    if let Transport::Mqtt(t) = client.transport() {
        t.disconnect().await;
    }
    if let Some(v) = verifier {
        let cp = v.checkpoint().await?;
        v.verify_record(&record, &cp)
            .await
            .with_context(|| format!("the hub's record of seq {} does not verify", record.seq))?;
        eprintln!(
            "verified: seq {} is in the tree of size {} signed by {}",
            record.seq,
            cp.tree_size,
            v.key_name()
        );
    }
    println!("{}", serde_json::to_string(&record)?);
    Ok(ExitCode::SUCCESS)
}

async fn listen(a: ListenArgs) -> anyhow::Result<ExitCode> {
    let settings = MqttSettings {
        listen: true,
        ..MqttSettings::default()
    };
    let key = a.key.as_deref().map(DeviceKey::load).transpose()?;
    let verifier = a.check.verifier()?;
    let t = MqttTransport::connect(
        &broker(&a.mqtt, a.mqtt_ca.as_ref())?,
        &a.name,
        key.as_ref(),
        settings,
    )
    .await?;
    let mut inbox = t.take_inbox().context("no inbox")?;
    eprintln!("listening to m2m/in/{}", a.name);
    let (mut seen, mut rejected) = (0, 0u64);
    loop {
        tokio::select! {
            d = inbox.recv() => {
                let Some(d) = d else { bail!("the connection ended") };
                seen += 1;
                if let Some(v) = &verifier {
                    let checked = match v.checkpoint().await {
                        Ok(cp) => v.verify_delivery(&d, &cp).await.map(|()| cp.tree_size),
                        Err(e) => Err(e),
                    };
                    match checked {
                        Ok(size) => eprintln!(
                            "verified: seq {} from {} is in the tree of size {size} signed by {}",
                            d.record.seq,
                            d.record.sender,
                            v.key_name()
                        ),
                        Err(e) => {
                            eprintln!("rejected: the delivery of seq {}: {e}", d.record.seq);
                            rejected += 1;
                            if a.count.is_some_and(|n| seen >= n) {
                                break;
                            }
                            continue;
                        }
                    }
                }
                println!("{}", serde_json::to_string(&d)?);
                if a.count.is_some_and(|n| seen >= n) {
                    break;
                }
            }
            () = crate::cmd::serve::shutdown_signal() => break,
        }
    }
    t.disconnect().await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(if rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
