"""With --tls-certs-dir the server requires mutual TLS, as Crossplane expects of a function."""

import datetime
import ipaddress
import socket
import subprocess
import time

import grpc
import pytest
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.conftest import free_port, function_command
from tests.harness import request, xr


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _cert(subject: str, key, issuer_name: x509.Name, issuer_key, *, ca=False, server=False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _ca(name: str):
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return key, _cert(name, key, subject, key, ca=True)


def _pem_cert(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    ca_key, ca = _ca("crossplane-root-ca")
    server_key = _key()
    server = _cert("function-capi-vip", server_key, ca.subject, ca_key, server=True)
    client_key = _key()
    client = _cert("crossplane", client_key, ca.subject, ca_key)
    other_key, other_ca = _ca("someone-else")
    stranger_key = _key()
    stranger = _cert("crossplane", stranger_key, other_ca.subject, other_key)
    certs = tmp_path_factory.mktemp("tls")
    (certs / "tls.crt").write_bytes(_pem_cert(server))
    (certs / "tls.key").write_bytes(_pem(server_key))
    (certs / "ca.crt").write_bytes(_pem_cert(ca))
    return {"dir": certs, "ca": _pem_cert(ca), "client": (_pem(client_key), _pem_cert(client)),
            "stranger": (_pem(stranger_key), _pem_cert(stranger))}


@pytest.fixture(scope="module")
def tls_server(pki):
    address = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen([*function_command(), "--tls-certs-dir", str(pki["dir"]), "--address", address],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host, port = address.split(":")
    deadline = time.monotonic() + 30
    while True:  # listening?
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("the TLS server did not start")
            time.sleep(0.05)
    yield address
    proc.terminate()
    proc.wait(timeout=15)


def _call(address: str, creds: grpc.ChannelCredentials):
    channel = grpc.secure_channel(address, creds, options=[("grpc.ssl_target_name_override", "localhost")])
    try:
        return grpcv1.FunctionRunnerServiceStub(channel).RunFunction(request(xr()), timeout=5)
    finally:
        channel.close()


def test_a_client_with_a_certificate_from_the_ca_is_served(pki, tls_server):
    key, cert = pki["client"]
    rsp = _call(tls_server, grpc.ssl_channel_credentials(pki["ca"], key, cert))
    assert "cluster-class" in rsp.requirements.resources


def test_a_client_without_a_certificate_is_refused(pki, tls_server):
    with pytest.raises(grpc.RpcError) as e:
        _call(tls_server, grpc.ssl_channel_credentials(pki["ca"]))
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_client_with_a_certificate_from_another_ca_is_refused(pki, tls_server):
    key, cert = pki["stranger"]
    with pytest.raises(grpc.RpcError) as e:
        _call(tls_server, grpc.ssl_channel_credentials(pki["ca"], key, cert))
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_plaintext_client_is_refused(tls_server):
    channel = grpc.insecure_channel(tls_server)
    try:
        with pytest.raises(grpc.RpcError):
            grpcv1.FunctionRunnerServiceStub(channel).RunFunction(request(xr()), timeout=5)
    finally:
        channel.close()
