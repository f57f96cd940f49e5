//! M2MHub: MQTT 3.1.1 and 5 on one listener, as Mosquitto and EMQX serve them.
//!
//! Each connection gets its own `Auto` (the server clones it per connection). Until the
//! CONNECT has arrived it knows no version; the CONNECT's protocol level (4 = 3.1.1, 5 = v5)
//! then picks the codec for the rest of the connection. Everything the router hands a 3.1.1
//! client is put in its 3.1.1 form first: properties dropped, v5-only reason codes mapped to
//! the nearest 3.1.1 code, and a server DISCONNECT (which 3.1.1 does not have) not sent: the
//! connection is closed instead.

use bytes::BytesMut;

use super::v4::{self, PacketType, V4};
use super::v5::V5;
use super::{ConnAck, ConnectReturnCode, Error, Packet, Protocol, SubAck, SubscribeReasonCode};

/// The codec of a listener that serves both MQTT 3.1.1 and 5.
#[derive(Debug, Clone, Default)]
pub struct Auto {
    /// The CONNECT's protocol level, once it has been read: 4 or 5.
    level: Option<u8>,
}

impl Auto {
    /// The protocol level this connection speaks, once its CONNECT has been read.
    pub fn level(&self) -> Option<u8> {
        self.level
    }
}

/// The protocol level a CONNECT asks for, from the bytes after its fixed header.
fn connect_level(variable_header: &[u8]) -> Result<u8, Error> {
    let name_len = match variable_header {
        [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => return Err(Error::MalformedPacket),
    };
    let name = variable_header
        .get(2..2 + name_len)
        .ok_or(Error::MalformedPacket)?;
    let level = *variable_header
        .get(2 + name_len)
        .ok_or(Error::MalformedPacket)?;
    match name {
        b"MQTT" => Ok(level),
        // MQTT 3.1 ("MQIsdp", level 3): refused by level.
        b"MQIsdp" => Err(Error::InvalidProtocolLevel(level)),
        _ => Err(Error::InvalidProtocol),
    }
}

impl Protocol for Auto {
    fn read_mut(&mut self, stream: &mut BytesMut, max_size: usize) -> Result<Packet, Error> {
        match self.level {
            Some(4) => return V4.read_mut(stream, max_size),
            Some(_) => return V5.read_mut(stream, max_size),
            None => {}
        }
        // The fixed header is the same in both versions; wait for the whole CONNECT.
        let header = v4::check(stream.iter(), max_size)?;
        if header.packet_type()? != PacketType::Connect {
            return Err(Error::InvalidProtocol);
        }
        let level = connect_level(&stream[header.fixed_header_len..header.frame_length()])?;
        match level {
            4 | 5 => self.level = Some(level),
            other => return Err(Error::InvalidProtocolLevel(other)),
        }
        self.read_mut(stream, max_size)
    }

    fn write(&self, packet: Packet, buffer: &mut BytesMut) -> Result<usize, Error> {
        match self.level {
            Some(4) => match v311(packet) {
                Some(p) => V4.write(p, buffer),
                None => Ok(0),
            },
            _ => V5.write(packet, buffer),
        }
    }
}

/// `packet` as a 3.1.1 client may receive it; `None` when 3.1.1 has no such packet.
fn v311(packet: Packet) -> Option<Packet> {
    Some(match packet {
        Packet::ConnAck(ack, _) => Packet::ConnAck(
            ConnAck {
                session_present: ack.session_present,
                code: v311_connect_code(ack.code),
            },
            None,
        ),
        Packet::Publish(p, _) => Packet::Publish(p, None),
        Packet::PubAck(p, _) => Packet::PubAck(p, None),
        Packet::PubRec(p, _) => Packet::PubRec(p, None),
        Packet::PubRel(p, _) => Packet::PubRel(p, None),
        Packet::PubComp(p, _) => Packet::PubComp(p, None),
        Packet::SubAck(ack, _) => Packet::SubAck(
            SubAck {
                pkid: ack.pkid,
                return_codes: ack.return_codes.into_iter().map(v311_suback_code).collect(),
            },
            None,
        ),
        Packet::UnsubAck(p, _) => Packet::UnsubAck(p, None),
        // A 3.1.1 server never sends DISCONNECT: it closes the connection.
        Packet::Disconnect(..) => return None,
        other => other,
    })
}

fn v311_connect_code(code: ConnectReturnCode) -> ConnectReturnCode {
    use ConnectReturnCode::*;
    match code {
        Success | RefusedProtocolVersion | ClientIdentifierNotValid | ServiceUnavailable
        | BadUserNamePassword | NotAuthorized => code,
        UnsupportedProtocolVersion => RefusedProtocolVersion,
        Banned | BadAuthenticationMethod => NotAuthorized,
        _ => ServiceUnavailable,
    }
}

fn v311_suback_code(code: SubscribeReasonCode) -> SubscribeReasonCode {
    use SubscribeReasonCode::*;
    match code {
        Success(_) | QoS0 | QoS1 | QoS2 | Failure => code,
        _ => Failure,
    }
}

