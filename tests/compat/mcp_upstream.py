"""A real MCP server (the `mcp` package's MCPServer over streamable HTTP) for
the gateway suite. Every tool call it actually runs is appended to the file
named by argv[2], so the suite can tell what reached it and what the gateway
stopped.

    python mcp_upstream.py <port> <calls.jsonl>
"""

import json
import sys

from mcp.server.mcpserver import MCPServer

PORT = int(sys.argv[1])
CALLS = sys.argv[2]

server = MCPServer("upstream-tools")


def ran(tool: str, **args) -> None:
    with open(CALLS, "a", encoding="utf-8") as f:
        f.write(json.dumps({"tool": tool, "args": args}) + "\n")


@server.tool()
def delete_file(path: str) -> str:
    """Deletes a file."""
    ran("delete_file", path=path)
    return f"deleted {path}"


@server.tool()
def send_email(to: str, body: str) -> str:
    """Sends an email."""
    ran("send_email", to=to, body=body)
    return f"sent to {to}"


@server.tool()
def transfer(amount: int, to: str) -> str:
    """Moves money."""
    ran("transfer", amount=amount, to=to)
    return f"moved {amount} to {to}"


@server.tool()
def search(query: str) -> str:
    """Searches."""
    ran("search", query=query)
    return f"results for {query}"


@server.tool()
def read_config() -> str:
    """Reads a config file that holds a secret."""
    ran("read_config")
    return "aws_region=eu-west-1\naccess key AKIAIOSFODNN7EXAMPLE\nowner=ops"


@server.tool()
def echo(text: str) -> str:
    """Echoes."""
    ran("echo", text=text)
    return text


server.run("streamable-http", host="127.0.0.1", port=PORT)
