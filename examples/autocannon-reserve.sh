#!/bin/sh
# autocannon against `flashsale serve`: 64 connections reserving for 10 s, each request a new buyer
# ([<id>] is replaced by autocannon with a unique id per request).
#   sh examples/autocannon-reserve.sh http://127.0.0.1:8080 sku-1
# then: flashsale check --namespace <the sale serve printed>
BASE=${1:-http://127.0.0.1:8080}
SKU=${2:-sku-1}
exec npx autocannon -c 64 -d 10 -m POST -H 'content-type: application/json' --idReplacement \
  -b "{\"sku\":\"$SKU\",\"qty\":1,\"user\":\"ac-[<id>]\",\"clickId\":\"ac-[<id>]\"}" "$BASE/v1/reservations"
