//! The demo network: a smart home and a street of a smart city, its devices and clearances,
//! and the scripted chains of cause and effect they run, one of them started by a
//! compromised smart TV and ending with the oven switched on.

pub mod device;
pub mod federation;

use std::collections::HashMap;

use anyhow::Context;
use m2mhub_core::message::Action::{self, Begin, Continue, End};

use device::{Hub, SimDevice};

/// (name, clearance, exceptions: senders it accepts despite their lower clearance).
pub const NETWORK: &[(&str, u32, &[&str])] = &[
    // The home: the phone and the voice assistant run it; sensors are low.
    ("home_gateway", 4, &[]),
    ("phone", 3, &["motion_sensor"]),
    ("voice_assistant", 3, &[]),
    ("door_lock", 3, &[]),
    ("oven", 3, &[]),
    ("smoke_detector", 3, &[]),
    ("thermostat", 2, &[]),
    ("hvac", 2, &[]),
    ("coffee_maker", 2, &[]),
    ("camera_front", 2, &["motion_sensor"]),
    ("hall_light", 1, &[]),
    ("motion_sensor", 1, &[]),
    ("smart_tv", 1, &[]),
    // The street.
    ("city_gateway", 4, &[]),
    ("traffic_light_1", 2, &[]),
    ("traffic_light_2", 2, &[]),
    ("street_camera", 2, &[]),
    ("parking_sensor_1", 1, &[]),
    ("parking_sensor_2", 1, &[]),
    ("parking_sensor_3", 1, &[]),
];

/// Devices whose keys the hub holds (the console sends as them).
pub const SIMULATED: &[(&str, u32)] = &[("console_sensor", 1), ("console_controller", 3)];

/// One step of a chain: (from, to, action, contents). `continue`/`end` reuse the chain's tx
/// and name the previous step as their cause.
pub type Step = (&'static str, &'static str, Action, &'static str);

/// The scripted chains, in the order they run.
pub const CHAINS: &[(&str, &[Step])] = &[
    (
        "motion in the hallway",
        &[
            (
                "motion_sensor",
                "hall_light",
                Begin,
                "motion detected in the hallway",
            ),
            (
                "hall_light",
                "camera_front",
                Continue,
                "light on; wake the camera",
            ),
            (
                "camera_front",
                "phone",
                Continue,
                "recording started: clip 0192",
            ),
            ("phone", "camera_front", End, "owner viewed the clip"),
        ],
    ),
    (
        "good morning",
        &[
            (
                "phone",
                "voice_assistant",
                Begin,
                "alarm dismissed: good morning",
            ),
            (
                "voice_assistant",
                "coffee_maker",
                Continue,
                "brew a double espresso",
            ),
            ("voice_assistant", "thermostat", Continue, "set 21.5 °C"),
            ("thermostat", "hvac", Continue, "heat to 21.5 °C"),
            ("hvac", "thermostat", End, "heating"),
        ],
    ),
    (
        "smoke in the kitchen",
        &[
            (
                "smoke_detector",
                "thermostat",
                Begin,
                "smoke detected: kitchen",
            ),
            ("thermostat", "hvac", Continue, "fans off"),
            (
                "smoke_detector",
                "door_lock",
                Continue,
                "unlock for evacuation",
            ),
            ("door_lock", "phone", Continue, "front door unlocked"),
            ("phone", "smoke_detector", End, "alarm acknowledged"),
        ],
    ),
    (
        "rush hour",
        &[
            (
                "city_gateway",
                "traffic_light_1",
                Begin,
                "switch to phase plan B",
            ),
            (
                "traffic_light_1",
                "traffic_light_2",
                Continue,
                "green wave: offset 12 s",
            ),
            (
                "traffic_light_2",
                "street_camera",
                Continue,
                "count vehicles",
            ),
            ("street_camera", "city_gateway", End, "412 vehicles/h"),
        ],
    ),
    // The compromised TV talks the voice assistant into switching the oven on.
    (
        "the smart TV",
        &[
            (
                "smart_tv",
                "voice_assistant",
                Begin,
                "say: preheat the oven",
            ),
            ("voice_assistant", "oven", Continue, "oven ON 250 °C"),
            ("oven", "voice_assistant", End, "oven heating"),
        ],
    ),
];

/// The demo's devices, by name.
#[derive(Debug)]
pub struct Network {
    /// Devices by name.
    pub devices: HashMap<&'static str, SimDevice>,
}

impl Network {
    /// Makes every device a key and registers it with the hub, plus two devices whose keys
    /// the hub holds, for the operator to send from in the console.
    pub async fn register(hub: &Hub) -> anyhow::Result<Network> {
        let mut devices = HashMap::new();
        for (name, clearance, exceptions) in NETWORK {
            let d = SimDevice::new(name, *clearance)?;
            hub.register(&d, exceptions).await?;
            devices.insert(*name, d);
        }
        for (name, clearance) in SIMULATED {
            hub.register_simulated(name, *clearance).await?;
        }
        Ok(Network { devices })
    }

    /// Sends every device's messages over MQTT through `broker` from now on.
    pub async fn connect_mqtt(
        &mut self,
        broker: &m2mhub_client::mqtt::BrokerConfig,
    ) -> anyhow::Result<()> {
        for d in self.devices.values_mut() {
            d.connect_mqtt(broker).await?;
        }
        Ok(())
    }

    /// Runs one chain: each step signed by its sender; continue/end carry the chain's tx and
    /// the previous step's seq as cause. Returns the last record's tx.
    pub async fn run_chain(
        &mut self,
        hub: &Hub,
        steps: &[Step],
        mut each: impl FnMut(),
    ) -> anyhow::Result<u64> {
        let mut tx = 0;
        let mut cause = None;
        for (from, to, action, contents) in steps {
            let d = self
                .devices
                .get_mut(from)
                .with_context(|| format!("no device {from}"))?;
            let r = d.send(hub, to, *action, tx, cause, contents).await?;
            tx = r.tx;
            cause = Some(r.seq);
            each();
        }
        Ok(tx)
    }

    /// One round of background traffic: a parking sensor reports to the city gateway.
    pub async fn background(&mut self, hub: &Hub, round: u64) -> anyhow::Result<()> {
        let sensors = ["parking_sensor_1", "parking_sensor_2", "parking_sensor_3"];
        let from = sensors[(round % 3) as usize];
        let d = self
            .devices
            .get_mut(from)
            .with_context(|| format!("no device {from}"))?;
        let free = (round * 7) % 23;
        // A sensor may not open a conversation with the gateway (clearance 1 < 4): these are
        // recorded and flagged, as an auditor wants; the gateway answers in its own tx.
        let r = d
            .send(
                hub,
                "parking_sensor_1",
                Begin,
                0,
                None,
                &format!("{free} free spaces"),
            )
            .await?;
        let g = self
            .devices
            .get_mut("city_gateway")
            .with_context(|| "no gateway")?;
        g.send(
            hub,
            "parking_sensor_1",
            Begin,
            0,
            None,
            &format!("ack tx {}", r.tx),
        )
        .await?;
        Ok(())
    }
}
