//! Opening a backend connection: TCP, the server's greeting, TLS when the
//! node asks for it, authentication (shardcat's account or a pass-through
//! user's), and turning on session tracking. Must not send statements of
//! clients or decide routing.

use super::*;

const BASE_CAPS: CapabilityFlags = CapabilityFlags::from_bits_truncate(
    CapabilityFlags::CLIENT_LONG_PASSWORD.bits()
        | CapabilityFlags::CLIENT_LONG_FLAG.bits()
        | CapabilityFlags::CLIENT_PROTOCOL_41.bits()
        | CapabilityFlags::CLIENT_TRANSACTIONS.bits()
        | CapabilityFlags::CLIENT_SECURE_CONNECTION.bits()
        | CapabilityFlags::CLIENT_MULTI_STATEMENTS.bits()
        | CapabilityFlags::CLIENT_MULTI_RESULTS.bits()
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS.bits()
        | CapabilityFlags::CLIENT_PLUGIN_AUTH.bits()
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA.bits()
        | CapabilityFlags::CLIENT_SESSION_TRACK.bits()
        | CapabilityFlags::CLIENT_LOCAL_FILES.bits()
        | CapabilityFlags::CLIENT_DEPRECATE_EOF.bits(),
);

/// `[backend] tls`: after the greeting, the SSL request and the TLS
/// handshake; `Some(caps)` (with `CLIENT_SSL`) when the connection is now
/// encrypted, `None` when it stays plain (`off`, or `prefer` and the
/// server offers no TLS).
async fn start_tls(
    stream: &mut PacketStream<BackendIo>,
    server: &ServerInfo,
    settings: &ConnectSettings,
    caps: CapabilityFlags,
    offered: &CapabilityFlags,
    seq: &mut u8,
) -> Result<Option<CapabilityFlags>> {
    let tls = &settings.tls;
    let Some(config) = tls.config.clone().filter(|_| tls.mode != TlsMode::Off) else {
        return Ok(None);
    };
    let connect_err = |reason: String| ProxyError::BackendConnect {
        server: server.name.clone(),
        addr: server.addr.clone(),
        reason,
    };
    if !offered.contains(CapabilityFlags::CLIENT_SSL) {
        if tls.mode == TlsMode::Prefer {
            return Ok(None);
        }
        return Err(connect_err(
            "the server offers no TLS ([backend] tls requires it)".into(),
        ));
    }
    let caps = caps | CapabilityFlags::CLIENT_SSL;
    let mut req = Vec::with_capacity(32);
    req.extend_from_slice(&caps.bits().to_le_bytes());
    req.extend_from_slice(&(settings.max_packet as u32).to_le_bytes());
    req.push(BACKEND_COLLATION);
    req.extend_from_slice(&[0u8; 23]);
    stream.queue(seq, &req);
    stream
        .flush()
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    let name = crate::wire::backend_tls::server_name(&server.addr);
    stream
        .get_mut()
        .start_tls(config, name)
        .await
        .map_err(|e| connect_err(format!("TLS handshake failed: {e}")))?;
    Ok(Some(caps))
}

/// Reads the server's answers to the login until its OK: an auth switch
/// is answered with `secret`, caching_sha2's fast-auth notice skipped;
/// a refusal is the client's own error when it logs in as itself
/// (`flavor.login`), else a connect error naming the proxy's `user`.
async fn read_login_answer(
    stream: &mut PacketStream<BackendIo>,
    secret: &crate::wire::auth::Secret,
    flavor: &Flavor,
    user: &str,
    connect_err: &impl Fn(String) -> ProxyError,
) -> Result<()> {
    loop {
        let p = stream
            .read_packet()
            .await
            .map_err(|e| connect_err(e.to_string()))?;
        let mut seq = p.seq.wrapping_add(1);
        match p.payload.first() {
            Some(0x00) => return Ok(()),
            Some(0xFF) => {
                let e = ErrPacket::parse(&p.payload)
                    .unwrap_or_else(|| ErrPacket::new(1045, "28000", "access denied"));
                if flavor.login.is_some() {
                    // The client's own account: the server's answer
                    // (1045, 1044…) is the client's to see.
                    return Err(ProxyError::Backend(e));
                }
                return Err(connect_err(format!(
                    "login as '{}' refused: {} ({})",
                    user, e.message, e.code
                )));
            }
            Some(0xFE) => {
                // Auth switch: plugin name, then the new nonce.
                let mut r = Reader::new(&p.payload[1..]);
                let name = r.null_terminated().unwrap_or_default().to_vec();
                let data = r.rest();
                let data = data.strip_suffix(&[0]).unwrap_or(data);
                let answer = secret.response(&name, data)
                    .ok_or_else(|| {
                        connect_err(format!(
                            "server asked for auth plugin '{}', which the proxy does not support for backends",
                            String::from_utf8_lossy(&name)
                        ))
                    })?;
                stream.queue(&mut seq, &answer);
                stream.flush().await.map_err(|e| connect_err(e.to_string()))?;
            }
            Some(0x01) => match p.payload.get(1) {
                Some(0x03) => continue, // fast auth succeeded; OK follows
                _ => {
                    return Err(connect_err(
                        "caching_sha2_password full authentication needs TLS; give the proxy's backend user mysql_native_password".into(),
                    ))
                }
            },
            _ => return Err(connect_err("unexpected packet during login".into())),
        }
    }
}

pub(super) const TRACKING_SQL: &str = "SET SESSION session_track_system_variables='*', session_track_schema=ON, session_track_state_change=ON";

impl BackendConn {
    /// Connects, authenticates and turns on session tracking.
    pub async fn connect(
        server: Arc<ServerInfo>,
        settings: &ConnectSettings,
        flavor: Flavor,
    ) -> Result<BackendConn> {
        let connect_err = |reason: String| ProxyError::BackendConnect {
            server: server.name.clone(),
            addr: server.addr.clone(),
            reason,
        };
        let service = crate::wire::auth::Secret::Password(settings.password.clone());
        let (login_user, secret) = match &flavor.login {
            Some(l) => (l.user.as_str(), &l.secret),
            None => (settings.user.as_str(), &service),
        };
        let fut = async {
            let tcp = TcpStream::connect(&server.addr)
                .await
                .map_err(|e| connect_err(e.to_string()))?;
            let _ = tcp.set_nodelay(true);
            let mut stream =
                PacketStream::new(crate::wire::tls::MaybeTls::Plain(tcp), settings.max_packet);
            let greeting = stream
                .read_packet()
                .await
                .map_err(|e| connect_err(e.to_string()))?;
            if is_err(&greeting.payload) {
                let e = ErrPacket::parse(&greeting.payload)
                    .unwrap_or_else(|| ErrPacket::new(2013, "HY000", "bad greeting"));
                return Err(connect_err(e.message));
            }
            let hs: HandshakePacket<'_> = ParseBuf(&greeting.payload)
                .parse(())
                .map_err(|e| connect_err(format!("unreadable greeting: {e}")))?;
            let hs_caps = hs.capabilities();
            let mut caps = BASE_CAPS & hs_caps;
            // Extended metadata needs a MariaDB server (no CLIENT_MYSQL in
            // its greeting) that offers it; the client then leaves
            // CLIENT_MYSQL out and sends its extended capabilities.
            let extended = flavor.extended_metadata
                && !hs
                    .capabilities()
                    .contains(CapabilityFlags::CLIENT_LONG_PASSWORD)
                && hs.mariadb_ext_capabilities().bits() & MARIADB_EXTENDED_METADATA != 0;
            if !extended {
                caps |= CapabilityFlags::CLIENT_LONG_PASSWORD;
            }
            if flavor.found_rows {
                caps |= CapabilityFlags::CLIENT_FOUND_ROWS;
            }
            let nonce = hs.nonce();
            let plugin = hs
                .auth_plugin_name_ref()
                .unwrap_or(b"mysql_native_password")
                .to_vec();
            let server_version = hs.server_version_str().into_owned();
            let connection_id = hs.connection_id();
            let (plugin_sent, scramble) = secret.first_response(&plugin, &nonce);
            let mut resp = Vec::with_capacity(128);
            resp.extend_from_slice(&caps.bits().to_le_bytes());
            resp.extend_from_slice(&(settings.max_packet as u32).to_le_bytes());
            resp.push(BACKEND_COLLATION);
            resp.extend_from_slice(&[0u8; 19]);
            let ext = if extended {
                MARIADB_EXTENDED_METADATA
            } else {
                0
            };
            resp.extend_from_slice(&ext.to_le_bytes());
            resp.extend_from_slice(login_user.as_bytes());
            resp.push(0);
            put_lenenc_bytes(&mut resp, &scramble);
            resp.extend_from_slice(&plugin_sent);
            resp.push(0);
            let mut seq = greeting.seq.wrapping_add(1);
            if let Some(upgraded) =
                start_tls(&mut stream, &server, settings, caps, &hs_caps, &mut seq).await?
            {
                caps = upgraded;
                resp[..4].copy_from_slice(&caps.bits().to_le_bytes());
            }
            stream.queue(&mut seq, &resp);
            stream
                .flush()
                .await
                .map_err(|e| connect_err(e.to_string()))?;
            read_login_answer(&mut stream, secret, &flavor, &settings.user, &connect_err).await?;
            Ok((stream, caps, server_version, connection_id, extended))
        };
        let (stream, caps, server_version, connection_id, extended_metadata) =
            match tokio::time::timeout(settings.connect_timeout, fut).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(connect_err(format!(
                        "no answer within {} ms",
                        settings.connect_timeout.as_millis()
                    )))
                }
            };
        let cache = std::num::NonZeroUsize::new(settings.statement_cache.max(1))
            .unwrap_or(std::num::NonZeroUsize::MIN);
        let mut conn = BackendConn {
            stream,
            server,
            connection_id,
            server_version,
            caps,
            flavor,
            extended_metadata,
            state: SessionState::for_collation(BACKEND_COLLATION as u16),
            status: StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits(),
            broken: false,
            last_used: Instant::now(),
            last_insert_id: 0,
            diagnostics_dirty: false,
            last_gtid: None,
            unread_rows: false,
            scoped_variables: false,
            last_warnings: 0,
            warnings_read: Default::default(),
            warning_rows: None,
            statements: LruCache::new(cache),
            pending_close: Vec::new(),
            silence: None,
            watchdog: None,
            answer: None,
        };
        let setup = tokio::time::timeout(settings.connect_timeout, conn.query_drop(TRACKING_SQL));
        match setup.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(ProxyError::BackendConnect {
                    server: conn.server.name.clone(),
                    addr: conn.server.addr.clone(),
                    reason: "no answer to session setup".into(),
                })
            }
        }
        conn.silence = silence::Silence::for_settings(settings).map(Arc::new);
        Ok(conn)
    }
}
