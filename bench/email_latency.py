#!/usr/bin/env python3
"""Latency from order placed to confirmation email written, on a running `shop up`.

Places N orders through the gateway at a steady rate, then reads each order's created_at
(orders.db) and its confirmation's sent_at (notification.db) from the data directory.

    python3 bench/email_latency.py --data-dir ./data --orders 300 --rate 20
"""
import argparse, datetime, json, sqlite3, statistics, time, urllib.request

def ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", default="./data")
    p.add_argument("--gateway", default="http://127.0.0.1:9000")
    p.add_argument("--orders", type=int, default=300)
    p.add_argument("--rate", type=float, default=20.0)
    a = p.parse_args()
    numbers = []
    for i in range(a.orders):
        body = json.dumps({"customer_name": "Latency", "customer_email": f"lat{i}@example.com",
                           "items": [{"product_id": "prod-%03d" % (1 + i % 47), "quantity": 1}]}).encode()
        req = urllib.request.Request(a.gateway + "/api/orders", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            numbers.append(json.load(r)["order_number"])
        time.sleep(1 / a.rate)
    time.sleep(3)
    orders = sqlite3.connect(f"{a.data_dir}/orders.db")
    notes = sqlite3.connect(f"{a.data_dir}/notification.db")
    lat = []
    for n in numbers:
        (created,) = orders.execute("SELECT created_at FROM orders WHERE order_number = ?", (n,)).fetchone()
        row = notes.execute("SELECT sent_at FROM notifications WHERE kind = 'ORDER_CONFIRMED' AND subject LIKE ?",
                            (f"%{n}",)).fetchone()
        if row and row[0]:
            lat.append((ts(row[0]) - ts(created)).total_seconds() * 1000)
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
    print(f"{len(lat)}/{len(numbers)} emailed; order→email ms: p50 {q(0.5):.1f}, p90 {q(0.9):.1f}, "
          f"p99 {q(0.99):.1f}, max {lat[-1]:.1f}, mean {statistics.mean(lat):.1f}")

if __name__ == "__main__":
    main()
