"""Registers N products of partner `bench` over HTTP and writes their ids to a file.

Usage: EVENTMALL_KEY=<bench's key> register.py BASE_URL N OUT
"""
import concurrent.futures
import json
import os
import sys
import urllib.request
import uuid

# ProductId = UUIDv5(PRODUCT_NAMESPACE, "<partner>/<sku>"), as in events/src/ids.rs
PRODUCT_NAMESPACE = uuid.UUID("6a1f3c2e-9b4d-4e8a-a7c5-1d2e3f405b61")


def register(base: str, n: int) -> str:
    body = json.dumps({
        "partner_id": "bench", "sku": f"SKU-{n}",
        "title": f"삼성 비스포크 제트 무선청소기 VS20A{n:05}", "brand": "삼성",
        "category": ["가전", "청소기"], "model_number": f"VS20A{n:05}",
        "price": {"amount": 990000}, "stock": 0,
    }).encode()
    request = urllib.request.Request(
        base + "/v1/products", data=body, headers={
            "content-type": "application/json",
            "authorization": "Bearer " + os.environ["EVENTMALL_KEY"],
        })
    with urllib.request.urlopen(request) as response:
        product_id = json.load(response)["aggregate_id"]
    expected = str(uuid.uuid5(PRODUCT_NAMESPACE, f"bench/SKU-{n}"))
    if product_id != expected:
        raise SystemExit(f"product id {product_id} is not {expected}")
    return product_id


def main() -> None:
    base, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(lambda n: register(base, n), range(count)))
    with open(out, "w") as f:
        f.write("\n".join(ids) + "\n")


if __name__ == "__main__":
    main()
