//! The connection phase with a client: greeting, capability negotiation,
//! authentication against the configured users (`mysql_native_password`,
//! `caching_sha2_password` fast path, auth switch for anything else).
//!
//! Owns: who the client is and what it can do. Must not touch backends
//! (the session checks `CONNECT_WITH_DB` against a backend afterwards).

use std::collections::HashMap;
use std::sync::Arc;

use mysql_common::constants::{CapabilityFlags, StatusFlags};
use mysql_common::io::ParseBuf;
use mysql_common::packets::HandshakeResponse;

use crate::backend::connection::BackendLogin;
use crate::config::{BackendAuth, Config, UserConfig};
use crate::error::ProxyError;
use crate::execute::ClientStream;
use crate::security::auth_guard::AuthGuard;
use crate::wire::auth::{self, Secret, CACHING_SHA2_PASSWORD, NATIVE_PASSWORD};
use crate::wire::packets::{Greeting, OkPacket};
use crate::wire::Packet;

/// Capabilities the proxy offers clients. Without `CLIENT_MYSQL` (bit 0,
/// `CLIENT_LONG_PASSWORD`), as a MariaDB server: clients then read and
/// send MariaDB's extended capabilities ([`SERVER_MARIADB_EXT`]).
pub const SERVER_CAPS: CapabilityFlags = CapabilityFlags::from_bits_truncate(
    CapabilityFlags::CLIENT_FOUND_ROWS.bits()
        | CapabilityFlags::CLIENT_LONG_FLAG.bits()
        | CapabilityFlags::CLIENT_CONNECT_WITH_DB.bits()
        | CapabilityFlags::CLIENT_PROTOCOL_41.bits()
        | CapabilityFlags::CLIENT_TRANSACTIONS.bits()
        | CapabilityFlags::CLIENT_SECURE_CONNECTION.bits()
        | CapabilityFlags::CLIENT_MULTI_STATEMENTS.bits()
        | CapabilityFlags::CLIENT_MULTI_RESULTS.bits()
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS.bits()
        | CapabilityFlags::CLIENT_PLUGIN_AUTH.bits()
        | CapabilityFlags::CLIENT_CONNECT_ATTRS.bits()
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA.bits()
        | CapabilityFlags::CLIENT_SESSION_TRACK.bits()
        | CapabilityFlags::CLIENT_LOCAL_FILES.bits()
        | CapabilityFlags::CLIENT_DEPRECATE_EOF.bits(),
);

/// MariaDB extended capabilities the proxy offers: extended type info
/// (relayed from backends that offer it too).
pub const SERVER_MARIADB_EXT: u32 = crate::wire::packets::MARIADB_EXTENDED_METADATA;

/// Who connected and what was agreed.
#[derive(Debug, Clone)]
pub struct ClientHello {
    pub user: String,
    pub caps: CapabilityFlags,
    /// The client asked for MariaDB's extended type info in column
    /// definitions.
    pub extended_metadata: bool,
    pub collation: u16,
    pub database: Option<String>,
    pub attributes: HashMap<String, String>,
    /// The nonce of this connection (COM_CHANGE_USER is checked against it).
    pub nonce: [u8; 20],
    /// The user's own login on the servers (`backend_auth =
    /// "passthrough"`).
    pub login: Option<Arc<BackendLogin>>,
    /// Sequence id of the packet that ends the connection phase.
    pub next_seq: u8,
}

/// Runs the connection phase. On failure the client has been sent an ERR
/// packet (when possible) and the connection must be closed.
///
/// Until it ends, packets are bounded by [`crate::config::PRE_AUTH_MAX_PACKET`]
/// (the caller built `client` with it); a bigger one is answered with
/// error 1153. Login attempts from an address with too many recent
/// failures are answered only after the `[security]` delay.
pub async fn accept(
    client: &mut ClientStream,
    config: &Config,
    server_version: &str,
    connection_id: u32,
    peer: std::net::IpAddr,
    guard: &AuthGuard,
) -> Result<ClientHello, ProxyError> {
    let peer_host = &peer.to_string();
    let nonce = auth::new_nonce();
    let resp = greet_and_read(client, config, server_version, connection_id, &nonce).await?;
    let mut seq = resp.seq.wrapping_add(1);
    let bad_handshake = || ProxyError::MalformedPacket("bad handshake".into());
    if resp.payload.len() < 32 {
        return fail(client, &mut seq, bad_handshake()).await;
    }
    let parsed: Result<HandshakeResponse<'_>, _> = ParseBuf(&resp.payload).parse(());
    let Ok(hs) = parsed else {
        return fail(client, &mut seq, bad_handshake()).await;
    };
    let caps = hs.capabilities() & SERVER_CAPS;
    if !caps.contains(CapabilityFlags::CLIENT_PROTOCOL_41) {
        return fail(
            client,
            &mut seq,
            ProxyError::Unsupported("clients without CLIENT_PROTOCOL_41".into()),
        )
        .await;
    }
    if hs.capabilities().contains(CapabilityFlags::CLIENT_SSL) && !client.get_ref().is_tls() {
        // CLIENT_SSL in a full handshake response: TLS is not on offer.
        return fail(client, &mut seq, ProxyError::Unsupported("TLS".into())).await;
    }
    if config.server.require_secure_transport && !client.get_ref().is_tls() {
        return fail(client, &mut seq, ProxyError::InsecureTransport).await;
    }
    let user = String::from_utf8_lossy(hs.user()).into_owned();
    let database = hs
        .db_name()
        .filter(|d| !d.is_empty() && caps.contains(CapabilityFlags::CLIENT_CONNECT_WITH_DB))
        .map(|d| String::from_utf8_lossy(d).into_owned());
    let plugin = hs
        .auth_plugin()
        .map(|p| String::from_utf8_lossy(p.as_bytes()).into_owned())
        .unwrap_or_else(|| NATIVE_PASSWORD.to_string());
    let mut scramble = hs.scramble_buf().to_vec();
    let attributes = hs.connect_attributes().unwrap_or_default();
    let collation = hs.collation() as u16;
    // MariaDB clients send extended capabilities in the last 4 filler
    // bytes when the server did not announce CLIENT_MYSQL.
    let extended_metadata = !hs
        .capabilities()
        .contains(CapabilityFlags::CLIENT_LONG_PASSWORD)
        && hs.mariadb_ext_capabilities().bits() & SERVER_MARIADB_EXT != 0;
    drop(hs);

    let mut used_plugin = plugin.clone();
    // A user configured with a password hash is checked with
    // mysql_native_password only.
    let hashed = config
        .user(&user)
        .is_some_and(crate::security::credentials::needs_native);
    if plugin != NATIVE_PASSWORD && (plugin != CACHING_SHA2_PASSWORD || hashed) {
        // Unknown plugin (or a client that wants e.g. clear text): ask for
        // mysql_native_password with the same nonce.
        scramble = switch_to_native(client, &mut seq, &nonce).await?;
        used_plugin = NATIVE_PASSWORD.to_string();
    }
    // Throttled addresses wait whatever the outcome, so the answer time
    // does not tell a right password from a wrong one.
    let delay = guard.delay_for(peer, &config.security);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let secret = config.user(&user).and_then(|u| {
        crate::security::credentials::verified_secret(u, &used_plugin, &nonce, &scramble)
    });
    let Some(secret) = secret else {
        let failures = guard.record_failure(peer, &config.security);
        // Every failure up to the delay threshold, then one in a hundred:
        // a guessing client cannot flood the log.
        let threshold = config.security.auth_failures_before_delay;
        if failures <= threshold.saturating_add(1) || failures.is_multiple_of(100) {
            tracing::warn!(
                conn = connection_id,
                %peer,
                failures,
                "login failed for user '{}'",
                crate::logsafe::safe(&user)
            );
        }
        let denied = ProxyError::AccessDenied {
            user,
            host: peer_host.to_string(),
            using_password: !scramble.is_empty(),
        };
        return fail(client, &mut seq, denied).await;
    };
    let login = config
        .user(&user)
        .and_then(|u| passthrough_login(u, secret));
    if config.user(&user).is_some_and(|u| u.require_tls) && !client.get_ref().is_tls() {
        return fail(client, &mut seq, ProxyError::InsecureTransport).await;
    }
    if config.user(&user).is_some_and(|u| u.require_x509)
        && !client.get_ref().has_verified_certificate()
    {
        // MySQL answers a login without the certificate REQUIRE X509 asks
        // for with "Access denied".
        let denied = ProxyError::AccessDenied {
            user,
            host: peer_host.to_string(),
            using_password: !scramble.is_empty(),
        };
        return fail(client, &mut seq, denied).await;
    }
    if let (Some(db), Some(u)) = (&database, config.user(&user)) {
        if u.is_restricted() && !crate::security::privileges::reaches(u, db) {
            let denied = ProxyError::DatabaseAccessDenied {
                user,
                host: peer_host.to_string(),
                db: db.clone(),
            };
            return fail(client, &mut seq, denied).await;
        }
    }
    if used_plugin == CACHING_SHA2_PASSWORD && !scramble.is_empty() {
        // fast_auth_success: the proxy holds the password, no full auth.
        client.queue(&mut seq, &[0x01, 0x03]);
    }
    // The final OK is sent by the caller once CONNECT_WITH_DB is checked.
    Ok(ClientHello {
        user,
        caps,
        extended_metadata,
        collation,
        database,
        attributes,
        nonce,
        login,
        next_seq: seq,
    })
}

/// The servers' login of a `backend_auth = "passthrough"` user who
/// authenticated with `secret`; `None` for mapped users.
pub(crate) fn passthrough_login(user: &UserConfig, secret: Secret) -> Option<Arc<BackendLogin>> {
    (user.backend_auth == BackendAuth::Passthrough).then(|| {
        Arc::new(BackendLogin {
            user: user.name.get_ref().clone(),
            secret,
        })
    })
}

/// Sends the greeting (with `CLIENT_SSL` when TLS is configured) and reads
/// the handshake response; a client that answers with the SSL request
/// gets the TLS handshake first, and its response is read over TLS.
async fn greet_and_read(
    client: &mut ClientStream,
    config: &Config,
    server_version: &str,
    connection_id: u32,
    nonce: &[u8; 20],
) -> Result<Packet, ProxyError> {
    let tls = config.server.tls.as_ref();
    let mut capabilities = SERVER_CAPS;
    if tls.is_some() {
        capabilities |= CapabilityFlags::CLIENT_SSL;
    }
    let mut greeting = Vec::with_capacity(128);
    Greeting {
        server_version,
        connection_id,
        scramble: nonce,
        capabilities,
        collation: 45,
        status: StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits(),
        auth_plugin: &config.server.auth_plugin,
        mariadb_ext: SERVER_MARIADB_EXT,
    }
    .encode(&mut greeting);
    let mut seq = 0u8;
    client.queue(&mut seq, &greeting);
    client
        .flush()
        .await
        .map_err(|e| ProxyError::Internal(e.to_string()))?;
    let resp = match client.read_packet().await {
        Ok(p) => p,
        Err(e) => return read_failed(client, 2, e).await,
    };
    let Some(tls) = tls.filter(|_| is_ssl_request(&resp.payload)) else {
        return Ok(resp);
    };
    let early = client.take_buffered_input();
    if let Err(e) = client.get_mut().start_tls(early, tls).await {
        // Nothing can be said to the client: the stream is neither plain
        // nor encrypted any more.
        return Err(ProxyError::TlsHandshake(e.to_string()));
    }
    match client.read_packet().await {
        Ok(p) => Ok(p),
        Err(e) => read_failed(client, resp.seq.wrapping_add(2), e).await,
    }
}

/// The SSL request: the 32-byte prefix of a handshake response, with
/// `CLIENT_SSL` in its capabilities.
fn is_ssl_request(payload: &[u8]) -> bool {
    payload.len() == 32
        && CapabilityFlags::from_bits_truncate(u32::from_le_bytes([
            payload[0], payload[1], payload[2], payload[3],
        ]))
        .contains(CapabilityFlags::CLIENT_SSL)
}

/// Asks the client to answer with `mysql_native_password` on the same
/// nonce; returns its answer (also for COM_CHANGE_USER).
pub(crate) async fn switch_to_native(
    client: &mut ClientStream,
    seq: &mut u8,
    nonce: &[u8; 20],
) -> Result<Vec<u8>, ProxyError> {
    let mut switch = vec![0xFE];
    switch.extend_from_slice(NATIVE_PASSWORD.as_bytes());
    switch.push(0);
    switch.extend_from_slice(nonce);
    switch.push(0);
    client.queue(seq, &switch);
    client
        .flush()
        .await
        .map_err(|e| ProxyError::Internal(e.to_string()))?;
    let answer = match client.read_packet().await {
        Ok(p) => p,
        Err(e) => return read_failed(client, seq.wrapping_add(1), e).await,
    };
    *seq = answer.seq.wrapping_add(1);
    Ok(answer.payload.to_vec())
}

/// A read in the connection phase failed: a packet over the pre-auth
/// limit is answered with 1153 (as a server does) before closing.
async fn read_failed<T>(
    client: &mut ClientStream,
    mut seq: u8,
    e: std::io::Error,
) -> Result<T, ProxyError> {
    if e.kind() == std::io::ErrorKind::InvalidData {
        return fail(client, &mut seq, ProxyError::PacketTooLarge).await;
    }
    Err(ProxyError::Internal(e.to_string()))
}

async fn fail<T>(client: &mut ClientStream, seq: &mut u8, e: ProxyError) -> Result<T, ProxyError> {
    let mut buf = Vec::new();
    e.to_err_packet().encode(&mut buf);
    client.queue(seq, &buf);
    let _ = client.flush().await;
    Err(e)
}

/// Sends the OK that ends the connection phase.
pub async fn finish(
    client: &mut ClientStream,
    caps: CapabilityFlags,
    seq: u8,
) -> std::io::Result<()> {
    let ok = OkPacket {
        status: StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits(),
        ..OkPacket::default()
    };
    let mut buf = Vec::new();
    ok.encode(caps, 0x00, &mut buf);
    let mut seq = seq;
    client.queue(&mut seq, &buf);
    client.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_request_is_the_32_byte_prefix_with_client_ssl() {
        let mut p = vec![0u8; 32];
        let caps = CapabilityFlags::CLIENT_SSL | CapabilityFlags::CLIENT_PROTOCOL_41;
        p[..4].copy_from_slice(&caps.bits().to_le_bytes());
        assert!(is_ssl_request(&p));
        p.push(0);
        assert!(!is_ssl_request(&p), "a full handshake response");
        let plain = CapabilityFlags::CLIENT_PROTOCOL_41.bits().to_le_bytes();
        let mut q = vec![0u8; 32];
        q[..4].copy_from_slice(&plain);
        assert!(!is_ssl_request(&q));
        assert!(!is_ssl_request(&[]));
    }
}
