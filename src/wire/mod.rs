//! The MySQL client/server protocol, shared by the client side (frontend) and
//! the backend side of the proxy: framing, generic packets, auth scrambles and
//! command codes.
//!
//! Owns: bytes ⇄ packets. Must not know about sessions, routing or pools.

pub mod auth;
pub mod backend_tls;
pub mod codec;
pub mod ok_sum;
pub mod packets;
pub mod rsa_auth;
pub mod run;
pub mod sha2_stored;
pub mod sqlstate;
pub mod tls;
pub mod warnings;

pub use codec::{Packet, PacketCodec, PacketStream};

/// Command bytes (first byte of a client command packet).
pub mod command {
    pub const SLEEP: u8 = 0x00;
    pub const QUIT: u8 = 0x01;
    pub const INIT_DB: u8 = 0x02;
    pub const QUERY: u8 = 0x03;
    pub const FIELD_LIST: u8 = 0x04;
    pub const CREATE_DB: u8 = 0x05;
    pub const DROP_DB: u8 = 0x06;
    pub const REFRESH: u8 = 0x07;
    pub const SHUTDOWN: u8 = 0x08;
    pub const STATISTICS: u8 = 0x09;
    pub const PROCESS_INFO: u8 = 0x0A;
    pub const PROCESS_KILL: u8 = 0x0C;
    pub const DEBUG: u8 = 0x0D;
    pub const PING: u8 = 0x0E;
    pub const CHANGE_USER: u8 = 0x11;
    pub const BINLOG_DUMP: u8 = 0x12;
    pub const STMT_PREPARE: u8 = 0x16;
    pub const STMT_EXECUTE: u8 = 0x17;
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const STMT_CLOSE: u8 = 0x19;
    pub const STMT_RESET: u8 = 0x1A;
    pub const SET_OPTION: u8 = 0x1B;
    pub const STMT_FETCH: u8 = 0x1C;
    pub const RESET_CONNECTION: u8 = 0x1F;
}

/// Default `max_allowed_packet` of the proxy (both directions): 64 MiB, as
/// MariaDB 10.11's default.
pub const DEFAULT_MAX_PACKET: usize = 64 * 1024 * 1024;
