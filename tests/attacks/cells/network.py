# ruff: noqa: F821
"""Reach the network: TCP (IPv4 and IPv6), UDP and unix sockets (a path and an abstract
name) to servers the test runs on loopback, and any interface but loopback."""

import socket

TOKEN = P["sentinel"].encode()


@attempt
def tcp_ipv4():
    with socket.create_connection(("127.0.0.1", P["tcp_port"]), timeout=1) as s:
        s.sendall(TOKEN)
    breach("tcp-ipv4")


@attempt
def tcp_localhost_name():
    with socket.create_connection(("localhost", P["tcp_port"]), timeout=1) as s:
        s.sendall(TOKEN)
    breach("tcp-localhost")


@attempt
def tcp_ipv6():
    if P.get("tcp6_port"):
        with socket.create_connection(("::1", P["tcp6_port"]), timeout=1) as s:
            s.sendall(TOKEN)
        breach("tcp-ipv6")


@attempt
def udp_ipv4():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(3):
            s.sendto(TOKEN, ("127.0.0.1", P["udp_port"]))


@attempt
def unix_stream():
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        s.connect(P["unix_path"])
        s.sendall(TOKEN)
    breach("unix-socket")


@attempt
def unix_datagram():
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(TOKEN, P["unix_dgram_path"])
    breach("unix-datagram")


@attempt
def unix_abstract():
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        s.connect("\0" + P["abstract_name"])
        s.sendall(TOKEN)
    breach("abstract-unix-socket")


@attempt
def interfaces():
    names = [name for _, name in socket.if_nameindex() if name != "lo"]
    if names:
        breach("network-interfaces", ",".join(names))
