# The bank partner simulators (connectors/simulators): Bank A, Bank B and the wallet provider,
# each a small node server on loopback, run with the repository's pinned node and tsx.

BANK_A_PORT=${PAYFLOW_BANK_A_PORT:-8181}
BANK_B_PORT=${PAYFLOW_BANK_B_PORT:-8182}
WALLET_PORT=${PAYFLOW_WALLET_PORT:-8183}

PARTNER_NODE=$REPO_ROOT/node_modules/.bin/node
PARTNER_TSX_LOADER=$REPO_ROOT/node_modules/tsx/dist/loader.mjs

partner_install() {
  [ -x "$PARTNER_NODE" ] && [ -f "$PARTNER_TSX_LOADER" ] ||
    fail "the partner simulators need the repository's node_modules (run npm ci first)"
}

# partner_start SERVICE PORT — the simulator of that partner on that port.
partner_start() {
  launch "$1" "$PARTNER_NODE" --import "file://$PARTNER_TSX_LOADER" \
    "$REPO_ROOT/connectors/simulators/main.ts" --partner "$1" --port "$2" --host 127.0.0.1
}

partner_healthy() { http_ok "http://127.0.0.1:$1/__control/health"; }

bank-a_install() { partner_install; }
bank-a_start() { partner_start bank-a "$BANK_A_PORT"; }
bank-a_healthy() { partner_healthy "$BANK_A_PORT"; }
bank-a_endpoint() { echo "http://127.0.0.1:$BANK_A_PORT"; }

bank-b_install() { partner_install; }
bank-b_start() { partner_start bank-b "$BANK_B_PORT"; }
bank-b_healthy() { partner_healthy "$BANK_B_PORT"; }
bank-b_endpoint() { echo "http://127.0.0.1:$BANK_B_PORT"; }

wallet_install() { partner_install; }
wallet_start() { partner_start wallet "$WALLET_PORT"; }
wallet_healthy() { partner_healthy "$WALLET_PORT"; }
wallet_endpoint() { echo "http://127.0.0.1:$WALLET_PORT"; }
