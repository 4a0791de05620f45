"""The string predicates the Kubernetes API server applies to names, labels, ports and
quantities, as plain functions.

Each one follows a function of ``k8s.io/apimachinery`` (named in its docstring) and returns the
list of messages the API server would give, empty when the value is valid. They take plain
strings, so they are tested on their own (``tests/test_provider_check_kube_names.py``).
"""

from __future__ import annotations

import re
from fractions import Fraction

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
DNS1035_LABEL_MAX = 63
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_MAX = 63
PORT_NAME_MAX = 15
CONFIG_MAP_KEY_MAX = 253

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_QUALIFIED_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_PORT_NAME_CHARS = re.compile(r"[-a-z0-9]+")
_PORT_NAME_LETTER = re.compile(r".*[a-z]")
_CONFIG_MAP_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_ENV_VAR_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_PERCENT = re.compile(r"[0-9]+%")


def is_dns1123_label(value: str) -> list[str]:
    """``IsDNS1123Label``: at most 63 characters, lower-case alphanumerics and '-', starting
    and ending with an alphanumeric."""
    out = []
    if len(value) > DNS1123_LABEL_MAX:
        out.append(f"must be no more than {DNS1123_LABEL_MAX} characters")
    if not _DNS1123_LABEL.fullmatch(value):
        out.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or"
            " '-', and must start and end with an alphanumeric character"
        )
    return out


def is_dns1123_subdomain(value: str) -> list[str]:
    """``IsDNS1123Subdomain``: at most 253 characters, dot-separated DNS-1123 labels."""
    out = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        out.append(f"must be no more than {DNS1123_SUBDOMAIN_MAX} characters")
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        out.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters,"
            " '-' or '.', and must start and end with an alphanumeric character"
        )
    return out


def is_dns1035_label(value: str) -> list[str]:
    """``IsDNS1035Label``: like a DNS-1123 label, but it must start with a letter."""
    out = []
    if len(value) > DNS1035_LABEL_MAX:
        out.append(f"must be no more than {DNS1035_LABEL_MAX} characters")
    if not _DNS1035_LABEL.fullmatch(value):
        out.append(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start"
            " with an alphabetic character, and end with an alphanumeric character"
        )
    return out


def is_qualified_name(value: str) -> list[str]:
    """``IsQualifiedName``: an optional DNS-subdomain prefix and '/', then a name of at most 63
    characters of alphanumerics, '-', '_' and '.', starting and ending with an alphanumeric."""
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return ["prefix part must be non-empty"]
        msgs = is_dns1123_subdomain(prefix)
        if msgs:
            return [f"prefix part {m}" for m in msgs]
    else:
        return [
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and"
            " must start and end with an alphanumeric character, with an optional DNS"
            " subdomain prefix and '/'"
        ]
    out = []
    if not name:
        out.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        out.append(f"name part must be no more than {QUALIFIED_NAME_MAX} characters")
    if name and not _QUALIFIED_NAME_PART.fullmatch(name):
        out.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must"
            " start and end with an alphanumeric character"
        )
    return out


def is_valid_label_value(value: str) -> list[str]:
    """``IsValidLabelValue``: empty, or at most 63 characters of alphanumerics, '-', '_' and
    '.', starting and ending with an alphanumeric."""
    out = []
    if len(value) > LABEL_VALUE_MAX:
        out.append(f"must be no more than {LABEL_VALUE_MAX} characters")
    if not _LABEL_VALUE.fullmatch(value):
        out.append(
            "a valid label must be an empty string or consist of alphanumeric characters, '-',"
            " '_' or '.', and must start and end with an alphanumeric character"
        )
    return out


def is_valid_port_num(port: int) -> list[str]:
    """``IsValidPortNum``: 1 to 65535."""
    return [] if 1 <= port <= 65535 else ["must be between 1 and 65535, inclusive"]


def is_valid_port_name(value: str) -> list[str]:
    """``IsValidPortName`` (an IANA_SVC_NAME): 1-15 characters of [-a-z0-9], at least one
    letter, no leading, trailing or doubled '-'."""
    out = []
    if not 1 <= len(value) <= PORT_NAME_MAX:
        out.append(f"must be no more than {PORT_NAME_MAX} characters")
    if not _PORT_NAME_CHARS.fullmatch(value):
        out.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        out.append("must not contain consecutive hyphens")
    if not _PORT_NAME_LETTER.match(value):
        out.append("must contain at least one letter (a-z)")
    if value.startswith("-") or value.endswith("-"):
        out.append("must not begin or end with a hyphen")
    return out


def is_config_map_key(value: str) -> list[str]:
    """``IsConfigMapKey``: at most 253 characters of alphanumerics, '-', '_' and '.', and not
    '.', '..' or starting with '..'."""
    out = []
    if len(value) > CONFIG_MAP_KEY_MAX:
        out.append(f"must be no more than {CONFIG_MAP_KEY_MAX} characters")
    if not _CONFIG_MAP_KEY.fullmatch(value):
        out.append("a valid config key must consist of alphanumeric characters, '-', '_' or '.'")
    if value == ".":
        out.append("must not be '.'")
    elif value == "..":
        out.append("must not be '..'")
    elif value.startswith(".."):
        out.append("must not start with '..'")
    return out


def is_env_var_name(value: str) -> list[str]:
    """``IsEnvVarName`` (before Kubernetes 1.32): [-._a-zA-Z][-._a-zA-Z0-9]*."""
    if _ENV_VAR_NAME.fullmatch(value):
        return []
    return [
        "a valid environment variable name must consist of alphabetic characters, digits, '_',"
        " '-', or '.', and must not start with a digit"
    ]


def is_relaxed_env_var_name(value: str) -> list[str]:
    """``IsRelaxedEnvVarName`` (RelaxedEnvironmentVariableValidation, on by default from 1.32):
    printable ASCII characters except '='."""
    if value and all(32 <= ord(c) <= 126 and c != "=" for c in value):
        return []
    return [
        "a valid environment variable name must consist only of printable ASCII characters other than '='"
    ]


def is_percent(value: str) -> bool:
    """``IsValidPercent``: digits followed by '%'."""
    return bool(_PERCENT.fullmatch(value))


# resource.ParseQuantity's grammar (quantity.go):
#   <quantity> ::= <signedNumber><suffix>;  <number> ::= <digits> | <digits>.<digits> |
#   <digits>. | .<digits>;  <suffix> ::= <binarySI> | <decimalExponent> | <decimalSI>
#   <binarySI> ::= Ki | Mi | Gi | Ti | Pi | Ei;  <decimalSI> ::= m | "" | k | M | G | T | P | E
#   <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>   (an integer exponent)
_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:(?P<bin>Ki|Mi|Gi|Ti|Pi|Ei)|(?P<exp>[eE][+-]?[0-9]+)|(?P<dec>[numkMGTPE]?))"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
QUANTITY_MESSAGE = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)


def parse_quantity(value: object) -> Fraction | None:
    """``resource.ParseQuantity`` (and a JSON number, which the API also accepts) -> its exact
    value; None when the API server would not parse it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(value) if value == value and abs(value) != float("inf") else None
    if not isinstance(value, str):
        return None
    m = _QUANTITY.fullmatch(value)
    if m is None:
        return None
    number = Fraction(m.group("num") if not m.group("num").endswith(".") else m.group("num")[:-1])
    if m.group("bin"):
        number *= _BINARY[m.group("bin")]
    elif m.group("exp"):
        number *= Fraction(10) ** int(m.group("exp")[1:])
    else:
        number *= Fraction(10) ** _DECIMAL[m.group("dec") or ""]
    return -number if m.group("sign") == "-" else number
