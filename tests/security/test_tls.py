"""TLS on REST and gRPC from a certificate and key in the configuration; tritonclient's ssl
options work against it, and plain connections do not."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import requests

from mlos.testing import ServerProcess
from mlos_generated import inference_pb2

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


TRITON_GRPC = """
import json, sys
import tritonclient.grpc as grpcclient
url, cert, token = sys.argv[1:4]
client = grpcclient.InferenceServerClient(url, ssl=True, root_certificates=cert)
ready = client.is_server_ready(headers={"authorization": f"Bearer {token}"})
meta = client.get_server_metadata(headers={"authorization": f"Bearer {token}"}, as_json=True)
print(json.dumps({"ready": ready, "name": meta["name"]}))
"""


def test_rest_and_grpc_serve_tls(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(f"tls_cert: {cert}\ntls_key: {key}\n")
    with ServerProcess(home, logs=tmp_path, ca=cert) as server:
        assert server.url.startswith("https://")
        headers = server.auth_headers
        live = requests.get(f"{server.url}/v2/health/live", verify=str(cert), timeout=10)
        assert live.status_code == 200
        plain = server.url.replace("https://", "http://")
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{plain}/v2/health/live", timeout=10)
        metadata = requests.get(f"{server.url}/v2", verify=str(cert), headers=headers, timeout=10)
        assert metadata.json()["name"] == "mlos"

        import tritonclient.http as httpclient

        triton = httpclient.InferenceServerClient(
            server.url.removeprefix("https://"), ssl=True,
            ssl_options={"ca_certs": str(cert)}, insecure=False,
        )
        assert triton.is_server_live()
        assert triton.get_server_metadata(headers=headers)["name"] == "mlos"
        triton.close()

        address = server.grpc_address
        credentials = grpc.ssl_channel_credentials(cert.read_bytes())
        with grpc.secure_channel(address, credentials) as channel:
            live_call = channel.unary_unary(
                "/inference.GRPCInferenceService/ServerLive",
                request_serializer=inference_pb2.ServerLiveRequest.SerializeToString,
                response_deserializer=inference_pb2.ServerLiveResponse.FromString,
            )
            assert live_call(inference_pb2.ServerLiveRequest(), timeout=10).live
        with grpc.insecure_channel(address) as channel:
            plain_call = channel.unary_unary(
                "/inference.GRPCInferenceService/ServerLive",
                request_serializer=inference_pb2.ServerLiveRequest.SerializeToString,
                response_deserializer=inference_pb2.ServerLiveResponse.FromString,
            )
            with pytest.raises(grpc.RpcError):
                plain_call(inference_pb2.ServerLiveRequest(), timeout=5)

        # tritonclient.grpc cannot share a process with mlos_generated.inference_pb2.
        answer = subprocess.run(
            [sys.executable, "-c", TRITON_GRPC, address, str(cert), server.token or ""],
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert answer.returncode == 0, answer.stderr
        assert json.loads(answer.stdout.strip().splitlines()[-1]) == {"ready": True, "name": "mlos"}


def test_tls_settings_go_together(tmp_path: Path) -> None:
    from mlos.config import ConfigError, Settings

    cert, key = _certificate(tmp_path)
    with pytest.raises(ConfigError, match="go together"):
        Settings(home=tmp_path, tls_cert=cert)
    with pytest.raises(ConfigError, match="no file"):
        Settings(home=tmp_path, tls_cert=cert, tls_key=tmp_path / "missing.pem")
    assert Settings(home=tmp_path, tls_cert=cert, tls_key=key).tls_key == key
