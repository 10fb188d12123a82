//! `wss://` and `https://` against a TLS-terminating proxy with a self-signed certificate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tandem_client::{Api, Client, ClientConfig, ConnectionState};
use tandem_server::{ServeConfig, Server};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

/// Accepts TLS on 127.0.0.1 with `cert`/`key` and forwards the plain bytes to `upstream`.
async fn tls_proxy(upstream: SocketAddr, cert: Vec<u8>, key: Vec<u8>) -> SocketAddr {
    use tokio_rustls::rustls;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(cert)],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
        )
        .expect("server cert");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn wss_and_https_work_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = ServeConfig::with_database_url(format!("sqlite://{}", dir.path().join("t.db").display()));
    config.addr = "127.0.0.1:0".parse().expect("addr");
    let server = Server::start(config).await.expect("server");
    let (plain_addr, store, hub) = (server.local_addr(), server.store(), server.hub());
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.run(stop.clone().cancelled_owned()));

    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("cert");
    let cert_der = certified.cert.der().to_vec();
    let proxy = tls_proxy(plain_addr, cert_der.clone(), certified.signing_key.serialize_der()).await;
    let base = format!("https://{proxy}");

    // REST over https, trusting the self-signed certificate.
    let api = Api::with_extra_roots(&base, std::slice::from_ref(&cert_der));
    let signed_up = api.sign_up(Some("secure")).await.expect("sign up over https");

    // WebSocket over wss.
    let client = Client::connect(ClientConfig {
        extra_root_certificates: vec![cert_der],
        ..ClientConfig::new(&base, signed_up.token.clone())
    });
    let mut events = client.events().await;
    let mut state = client.state();
    tokio::time::timeout(WAIT, async {
        while *state.borrow_and_update() != ConnectionState::Live {
            state.changed().await.expect("client alive");
        }
    })
    .await
    .expect("live over wss");
    let room = format!("user:{}", signed_up.user.id);
    let room_owned = room.clone();
    let room = tandem_protocol::room::Room::parse(&room).expect("room");
    tandem_server::domain::events::append_and_publish(
        &store,
        &hub,
        &room,
        move |e: &tandem_server::store::Envelope<'_>| {
            json!({"type": "note", "room": room_owned, "seq": e.seq, "timestamp": e.timestamp}).to_string()
        },
    )
    .await
    .expect("publish");
    let event = tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("stream");
            if event.kind() == "note" {
                return event;
            }
        }
    })
    .await
    .expect("event over wss");
    assert_eq!(event.seq(), Some(1));
    client.close().await;

    // Without trusting the certificate, the handshake is refused: no connection, no Live.
    let untrusting = Client::connect(ClientConfig::new(&base, signed_up.token));
    let mut changes = untrusting.state_changes();
    let first_end = tokio::time::timeout(WAIT, async {
        loop {
            match changes.recv().await.expect("transitions") {
                ConnectionState::Connecting => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("a verdict");
    assert_eq!(first_end, ConnectionState::Offline, "an untrusted certificate is not accepted");
    untrusting.close().await;
    stop.cancel();
    let _ = task.await;
}
