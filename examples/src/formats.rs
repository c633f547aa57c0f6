//! `--format NAME` of the echo tools: which protocol they speak, and what packets they
//! carry in it.
//!
//! | NAME | protocol | packets (server / client) |
//! | --- | --- | --- |
//! | `json` (default) | [`JsonLines`] | the document's exact text / `serde_json::Value` |
//! | `json-nolines` | [`JsonStream`] | the document's exact text / `Value` |
//! | `lines` | [`StringLines`] (UTF-8, `\n`) | `String` |
//! | `cbor` | [`Cbor`] | `Value` |
//! | `msgpack` | [`MsgPack`] | `Value` |
//! | `bincode` | [`Bincode`] | [`JsonValue`] (bincode cannot carry `Value`) |
//! | `base64-json` | [`Base64`] of [`JsonSerializer`] | the document's exact text / `Value` |
//! | `zlib-json` | [`Zlib`] of [`JsonSerializer`] | the document's exact text / `Value` |
//! | `bz2-json` | [`Bz2`] of [`JsonSerializer`] | the document's exact text / `Value` |
//!
//! The server keeps each JSON document's exact text (`RawValue`), so its echo is byte for
//! byte; in every format a packet that fails to decode is answered with
//! `{"error": "<message>"}` (in `lines`, the line `error: <message>`).

use std::future::Future;

use easynet::{
    Base64, Bincode, BincodeSerializer, Bz2, Cbor, CborSerializer, DatagramProtocol,
    DatagramSerializer, JsonLines, JsonSerializer, JsonStream, MsgPack, MsgPackSerializer,
    StreamProtocol, StringLines, StringSerializer, Zlib,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Number, Value, json};

use crate::json_arg;

/// The wire formats of the echo tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// JSON lines: one compact document + `\n` (easynetwork's default).
    #[default]
    Json,
    /// JSON documents back to back (easynetwork's `use_lines=False`).
    JsonNolines,
    /// UTF-8 text lines.
    Lines,
    /// CBOR values back to back.
    Cbor,
    /// MessagePack values back to back.
    Msgpack,
    /// bincode, length-prefixed (Rust-only).
    Bincode,
    /// base64 of compact JSON + `\r\n` (easynetwork's `Base64EncoderSerializer`).
    Base64Json,
    /// One zlib stream of compact JSON per packet.
    ZlibJson,
    /// One bzip2 stream of compact JSON per packet.
    Bz2Json,
}

/// The `--format NAME` option.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct FormatArgs {
    /// The wire format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

/// A packet the echo tools carry.
pub trait EchoPacket: Send + Sync + Sized + 'static {
    /// The server's answer to a packet that failed to decode.
    fn error(message: String) -> Self;
    /// A command-line argument of `echo_client` as a packet.
    fn from_arg(arg: &str) -> Self;
    /// How `echo_client` prints a packet it received (one line).
    fn display(&self) -> String;
}

impl EchoPacket for Box<RawValue> {
    fn error(message: String) -> Self {
        serde_json::value::to_raw_value(&json!({ "error": message })).expect("JSON of a string")
    }

    fn from_arg(arg: &str) -> Self {
        serde_json::value::to_raw_value(&json_arg(arg)).expect("a JSON value serializes")
    }

    fn display(&self) -> String {
        self.get().to_owned()
    }
}

impl EchoPacket for Value {
    fn error(message: String) -> Self {
        json!({ "error": message })
    }

    fn from_arg(arg: &str) -> Self {
        json_arg(arg)
    }

    fn display(&self) -> String {
        self.to_string()
    }
}

impl EchoPacket for String {
    fn error(message: String) -> Self {
        // One line, whatever the message says.
        format!("error: {}", message.replace(['\r', '\n'], " "))
    }

    fn from_arg(arg: &str) -> Self {
        arg.to_owned()
    }

    fn display(&self) -> String {
        self.clone()
    }
}

/// A JSON value in a form bincode can carry (it cannot carry `serde_json::Value`, which
/// asks the format what comes next): the packets of `--format bincode`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JsonValue {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A non-negative integer.
    UInt(u64),
    /// A negative integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<JsonValue>),
    /// An object, its members in order.
    Object(Vec<(String, JsonValue)>),
}

impl From<&Value> for JsonValue {
    fn from(value: &Value) -> Self {
        match value {
            Value::Null => JsonValue::Null,
            Value::Bool(b) => JsonValue::Bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => JsonValue::UInt(u),
                (None, Some(i)) => JsonValue::Int(i),
                _ => JsonValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => JsonValue::String(s.clone()),
            Value::Array(items) => JsonValue::Array(items.iter().map(JsonValue::from).collect()),
            Value::Object(members) => JsonValue::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), JsonValue::from(v)))
                    .collect(),
            ),
        }
    }
}

impl From<&JsonValue> for Value {
    fn from(value: &JsonValue) -> Self {
        match value {
            JsonValue::Null => Value::Null,
            JsonValue::Bool(b) => Value::Bool(*b),
            JsonValue::UInt(u) => Value::from(*u),
            JsonValue::Int(i) => Value::from(*i),
            JsonValue::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            JsonValue::String(s) => Value::String(s.clone()),
            JsonValue::Array(items) => Value::Array(items.iter().map(Value::from).collect()),
            JsonValue::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from(v)))
                    .collect(),
            ),
        }
    }
}

impl EchoPacket for JsonValue {
    fn error(message: String) -> Self {
        JsonValue::from(&Value::error(message))
    }

    fn from_arg(arg: &str) -> Self {
        JsonValue::from(&json_arg(arg))
    }

    fn display(&self) -> String {
        Value::from(self).to_string()
    }
}

/// Something to do with the protocol of a format, whatever its packet type: what
/// [`with_server_protocol`] and [`with_client_protocol`] call.
pub trait WithProtocol {
    /// What it gives.
    type Output;

    /// Does it with `protocol`, which sends and receives `T`.
    fn run<T, P>(self, protocol: P) -> impl Future<Output = Self::Output>
    where
        T: EchoPacket,
        P: StreamProtocol<T, T>;
}

/// Runs `with` on the protocol of `format` as `echo_server` speaks it: JSON documents
/// kept as their exact text.
pub async fn with_server_protocol<W: WithProtocol>(format: Format, with: W) -> W::Output {
    type Raw = Box<RawValue>;
    match format {
        Format::Json => with.run::<Raw, _>(JsonLines::new()).await,
        Format::JsonNolines => with.run::<Raw, _>(JsonStream::new()).await,
        Format::Lines => with.run::<String, _>(StringLines::new()).await,
        Format::Cbor => with.run::<Value, _>(Cbor::new()).await,
        Format::Msgpack => with.run::<Value, _>(MsgPack::new()).await,
        Format::Bincode => with.run::<JsonValue, _>(Bincode::new()).await,
        Format::Base64Json => with.run::<Raw, _>(Base64::new(JsonSerializer::new())).await,
        Format::ZlibJson => with.run::<Raw, _>(Zlib::new(JsonSerializer::new())).await,
        Format::Bz2Json => with.run::<Raw, _>(Bz2::new(JsonSerializer::new())).await,
    }
}

/// Runs `with` on the protocol of `format` as `echo_client` speaks it: JSON documents
/// as `serde_json::Value`, printed compact.
pub async fn with_client_protocol<W: WithProtocol>(format: Format, with: W) -> W::Output {
    match format {
        Format::Json => with.run::<Value, _>(JsonLines::new()).await,
        Format::JsonNolines => with.run::<Value, _>(JsonStream::new()).await,
        Format::Lines => with.run::<String, _>(StringLines::new()).await,
        Format::Cbor => with.run::<Value, _>(Cbor::new()).await,
        Format::Msgpack => with.run::<Value, _>(MsgPack::new()).await,
        Format::Bincode => with.run::<JsonValue, _>(Bincode::new()).await,
        Format::Base64Json => {
            with.run::<Value, _>(Base64::new(JsonSerializer::new()))
                .await
        }
        Format::ZlibJson => with.run::<Value, _>(Zlib::new(JsonSerializer::new())).await,
        Format::Bz2Json => with.run::<Value, _>(Bz2::new(JsonSerializer::new())).await,
    }
}

/// Something to do with the datagram protocol of a format: what
/// [`with_datagram_server_protocol`] and [`with_datagram_client_protocol`] call (the UDP
/// echo tools).
pub trait WithDatagramProtocol {
    /// What it gives.
    type Output;

    /// Does it with `protocol`, one `T` per datagram.
    fn run<T, S>(self, protocol: DatagramProtocol<S>) -> impl Future<Output = Self::Output>
    where
        T: EchoPacket,
        S: DatagramSerializer<T, T>;
}

/// The datagram serializer of `format` (one packet per datagram, so `json` and
/// `json-nolines` are the same, and `lines` is one UTF-8 string per datagram), with
/// server packets: JSON documents kept as their exact text.
pub async fn with_datagram_server_protocol<W: WithDatagramProtocol>(
    format: Format,
    with: W,
) -> W::Output {
    type Raw = Box<RawValue>;
    fn p<S>(serializer: S) -> DatagramProtocol<S> {
        DatagramProtocol::new(serializer)
    }
    match format {
        Format::Json | Format::JsonNolines => with.run::<Raw, _>(p(JsonSerializer::new())).await,
        Format::Lines => with.run::<String, _>(p(StringSerializer::new())).await,
        Format::Cbor => with.run::<Value, _>(p(CborSerializer::new())).await,
        Format::Msgpack => with.run::<Value, _>(p(MsgPackSerializer::new())).await,
        Format::Bincode => with.run::<JsonValue, _>(p(BincodeSerializer::new())).await,
        Format::Base64Json => {
            with.run::<Raw, _>(p(Base64::new(JsonSerializer::new())))
                .await
        }
        Format::ZlibJson => {
            with.run::<Raw, _>(p(Zlib::new(JsonSerializer::new())))
                .await
        }
        Format::Bz2Json => with.run::<Raw, _>(p(Bz2::new(JsonSerializer::new()))).await,
    }
}

/// [`with_datagram_server_protocol`]'s formats, with client packets: JSON documents as
/// `serde_json::Value`.
pub async fn with_datagram_client_protocol<W: WithDatagramProtocol>(
    format: Format,
    with: W,
) -> W::Output {
    fn p<S>(serializer: S) -> DatagramProtocol<S> {
        DatagramProtocol::new(serializer)
    }
    match format {
        Format::Json | Format::JsonNolines => with.run::<Value, _>(p(JsonSerializer::new())).await,
        Format::Lines => with.run::<String, _>(p(StringSerializer::new())).await,
        Format::Cbor => with.run::<Value, _>(p(CborSerializer::new())).await,
        Format::Msgpack => with.run::<Value, _>(p(MsgPackSerializer::new())).await,
        Format::Bincode => with.run::<JsonValue, _>(p(BincodeSerializer::new())).await,
        Format::Base64Json => {
            with.run::<Value, _>(p(Base64::new(JsonSerializer::new())))
                .await
        }
        Format::ZlibJson => {
            with.run::<Value, _>(p(Zlib::new(JsonSerializer::new())))
                .await
        }
        Format::Bz2Json => {
            with.run::<Value, _>(p(Bz2::new(JsonSerializer::new())))
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_survive_bincode_form() {
        let value = json!({"a": [1, -2, 2.5, null, true, "s", {}], "b": u64::MAX});
        assert_eq!(Value::from(&JsonValue::from(&value)), value);
    }

    #[test]
    fn error_lines_stay_one_line() {
        assert_eq!(String::error("a\nb\r".into()), "error: a b ");
    }
}
