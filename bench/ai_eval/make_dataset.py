#!/usr/bin/env python3
"""Builds the AI retrieval evaluation set: an invented catalog (catalog.json, a few hundred
products in eleven categories with deliberate confusers) and graded queries (queries.json).

Every product has a kind and attributes; each query grades products by rules over them
(3 = exactly what was asked, 2 = a good answer, 1 = acceptable, 0 = not relevant), and the
grades are frozen into queries.json, so the runner needs no rules. Deterministic: run it
again and the files come out the same.

    python3 bench/ai_eval/make_dataset.py   # writes catalog.json and queries.json here
"""
import json
import os
import random

rng = random.Random(20260221)
HERE = os.path.dirname(os.path.abspath(__file__))

products = []


def add(kind, category, name, description, tags, price, **attrs):
    pid = f"ev-{len(products) + 1:03d}"
    products.append({
        "id": pid, "name": name, "description": description, "category": category,
        "tags": tags, "price": round(price, 2), "stock_quantity": rng.randint(0, 120),
        "kind": kind, "attrs": attrs,
    })


def price_between(lo, hi):
    return rng.randint(int(lo * 100), int(hi * 100)) / 100.0 // 1 + 0.99


# --- Computers & Accessories --------------------------------------------------------
COMP = "Computers & Accessories"
for brand, series, size, lo, hi in [
    ("Lenovo", "ThinkPad X1", 14, 1200, 1900), ("Dell", "Inspiron", 15, 550, 900),
    ("HP", "Pavilion", 15, 600, 850), ("Apple", "MacBook Pro", 14, 1600, 2500),
    ("Asus", "Zenbook", 13, 800, 1100), ("Acer", "Aspire", 15, 380, 560),
    ("Microsoft", "Surface Laptop", 13, 900, 1300), ("Razer", "Blade", 16, 2200, 3200),
    ("Framework", "Laptop", 13, 1000, 1400), ("Samsung", "Galaxy Book", 15, 700, 1000),
]:
    add("laptop", COMP, f"{brand} {series} {size}-inch Laptop",
        f"{size}-inch laptop with a backlit keyboard, fast SSD storage and all-day battery for work and study.",
        ["laptop", "computer", brand.lower()], price_between(lo, hi), size=size)
for brand, style, fits, lo, hi in [
    ("Tomtoc", "padded sleeve", 13, 20, 35), ("Targus", "messenger bag", 15, 35, 60),
    ("Incase", "backpack", 16, 60, 110), ("Amazon Basics", "sleeve", 14, 12, 18),
    ("Samsonite", "briefcase", 15, 80, 140), ("Peak Design", "everyday backpack", 16, 150, 260),
    ("Thule", "laptop case", 14, 40, 70),
]:
    add("laptop_bag", COMP, f"{brand} Laptop {style.title()} {fits}-inch",
        f"Protective {style} for laptops up to {fits} inches, with a water-resistant shell and an accessory pocket.",
        ["laptop bag", "bag", "travel"], price_between(lo, hi))
for brand, model, wireless, gaming, lo, hi in [
    ("Logitech", "MX Anywhere 3", True, False, 60, 80), ("Logitech", "M185", True, False, 12, 18),
    ("Razer", "DeathAdder V3", False, True, 55, 75), ("Microsoft", "Bluetooth Mouse", True, False, 20, 30),
    ("SteelSeries", "Aerox 5 Wireless", True, True, 100, 140), ("Amazon Basics", "Wired Mouse", False, False, 7, 10),
    ("Corsair", "Harpoon", False, True, 25, 35), ("Apple", "Magic Mouse", True, False, 75, 95),
]:
    conn = "wireless" if wireless else "wired USB"
    use = "gaming mouse with programmable buttons and a high-DPI sensor" if gaming else "computer mouse for everyday work"
    add("computer_mouse", COMP, f"{brand} {model} Mouse" if "Mouse" not in model else f"{brand} {model}",
        f"Ergonomic {conn} {use}; works with laptops and desktop PCs.",
        ["mouse", "computer"] + (["wireless"] if wireless else ["wired"]) + (["gaming"] if gaming else []),
        price_between(lo, hi), wireless=wireless, gaming=gaming)
for brand, model, wireless, lo, hi in [
    ("Keychron", "K2 Mechanical Keyboard", True, 70, 100), ("Logitech", "MX Keys", True, 90, 120),
    ("Corsair", "K70 Gaming Keyboard", False, 120, 170), ("Amazon Basics", "Wired Keyboard", False, 12, 20),
]:
    add("keyboard", COMP, f"{brand} {model}", f"{'Wireless' if wireless else 'Wired'} keyboard with comfortable keys for typing and coding.",
        ["keyboard", "computer"] + (["wireless"] if wireless else []), price_between(lo, hi), wireless=wireless)
for brand, size, res, lo, hi in [
    ("Dell", 27, "4K", 300, 450), ("LG", 24, "Full HD", 110, 160), ("Samsung", 32, "curved QHD", 280, 380),
    ("Asus", 27, "144 Hz gaming", 220, 320), ("BenQ", 24, "Full HD eye-care", 130, 170),
]:
    add("monitor", COMP, f"{brand} {size}-inch {res} Monitor", f"{size}-inch {res} monitor display with thin bezels and adjustable stand for desktop computers.",
        ["monitor", "display"], price_between(lo, hi))
for brand, lo, hi in [("Anker", 30, 50), ("Ugreen", 25, 40), ("Satechi", 60, 90)]:
    add("usb_hub", COMP, f"{brand} USB-C Hub 7-in-1", "USB-C hub with HDMI, USB-A ports and an SD card reader for laptops.",
        ["usb-c", "hub", "laptop accessories"], price_between(lo, hi))
for brand, lo, hi in [("Logitech", 60, 100), ("Razer", 90, 130), ("Microsoft", 40, 60)]:
    add("webcam", COMP, f"{brand} HD Webcam 1080p", "Full HD webcam with a built-in microphone for video calls and streaming.",
        ["webcam", "camera", "video calls"], price_between(lo, hi))

# --- Audio ------------------------------------------------------------------------
AUDIO = "Audio"
over_ear = [
    ("Sony", "WH-CH720N", True, True, 120, 150), ("Sony", "WH-1000XM5", True, True, 330, 400),
    ("Bose", "QuietComfort 45", True, True, 250, 330), ("Sennheiser", "HD 560S", False, False, 150, 200),
    ("Audio-Technica", "ATH-M50x", False, False, 130, 170), ("JBL", "Tune 760NC", True, True, 80, 130),
    ("Anker Soundcore", "Life Q30", True, True, 60, 80), ("Beyerdynamic", "DT 770 Pro", False, False, 140, 180),
    ("Apple", "AirPods Max", True, True, 480, 550), ("Skullcandy", "Hesh ANC", True, True, 90, 130),
    ("Philips", "H4205 Bluetooth", True, False, 35, 50), ("Koss", "Porta Pro", False, False, 35, 50),
    ("Marshall", "Major IV", True, False, 120, 150), ("Sony", "MDR-7506", False, False, 90, 110),
]
for brand, model, wireless, anc, lo, hi in over_ear:
    conn = "wireless Bluetooth" if wireless else "wired"
    extra = " with active noise cancelling" if anc else ""
    add("over_ear_headphones", AUDIO, f"{brand} {model} Headphones",
        f"Over-ear {conn} headphones{extra}, soft cushions and rich sound for music and calls.",
        ["headphones", "over-ear"] + (["wireless", "bluetooth"] if wireless else ["wired"]) + (["noise-cancelling"] if anc else []),
        price_between(lo, hi), wireless=wireless, anc=anc)
in_ear = [
    ("Apple", "AirPods Pro 2", True, 220, 250), ("Samsung", "Galaxy Buds2 Pro", True, 170, 230),
    ("Jabra", "Elite 4", True, 80, 100), ("Sony", "WF-1000XM5", True, 260, 300),
    ("Anker Soundcore", "Liberty 4 NC", True, 80, 100), ("Shure", "SE215", False, 90, 110),
    ("Sennheiser", "IE 100 Pro", False, 90, 130), ("JBL", "Vibe Beam", True, 40, 50),
    ("Skullcandy", "Dime 3", True, 20, 30), ("Beats", "Studio Buds+", True, 150, 170),
]
for brand, model, wireless, lo, hi in in_ear:
    # Deliberately described as "in-ear headphones" / "earphones", never "earbuds":
    # finding them for "earbuds" needs the synonym list or the embedding model.
    add("in_ear_headphones", AUDIO, f"{brand} {model}",
        f"{'True wireless' if wireless else 'Wired'} in-ear headphones with a snug fit and clear sound; earphones for commuting and workouts.",
        ["in-ear", "earphones"] + (["wireless", "bluetooth"] if wireless else ["wired"]),
        price_between(lo, hi), wireless=wireless)
for brand, model, portable, lo, hi in [
    ("JBL", "Flip 6", True, 100, 130), ("Bose", "SoundLink Flex", True, 130, 150), ("Sonos", "Era 100", False, 230, 260),
    ("Anker Soundcore", "Motion 300", True, 70, 90), ("Ultimate Ears", "Wonderboom 3", True, 80, 100),
    ("Marshall", "Acton III", False, 250, 290),
]:
    add("speaker", AUDIO, f"{brand} {model} Speaker",
        f"{'Portable waterproof Bluetooth' if portable else 'Home smart'} speaker with room-filling sound.",
        ["speaker", "bluetooth"] + (["portable"] if portable else ["home"]), price_between(lo, hi), portable=portable)
for name, lo, hi in [("Walnut Headphone Stand", 25, 40), ("Aluminium Headphone Stand with USB Hub", 30, 45),
                     ("Hard Shell Headphone Case", 15, 25), ("Replacement Ear Pads for Over-Ear Headphones", 12, 20)]:
    add("headphone_accessory", AUDIO, name, f"{name}: an accessory for headphones, keeps your desk tidy and your headphones safe.",
        ["headphones", "accessory"], price_between(lo, hi))
add("turntable", AUDIO, "Audio-Technica AT-LP60X Turntable", "Fully automatic belt-drive record player for vinyl.",
    ["turntable", "vinyl", "record player"], 149.0)

# --- Phones & Tablets ---------------------------------------------------------------
PHONES = "Phones & Tablets"
for brand, model, lo, hi in [("Apple", "iPhone 15", 750, 850), ("Samsung", "Galaxy S24", 750, 850),
                             ("Google", "Pixel 8a", 450, 520), ("Motorola", "Moto G Power", 180, 260),
                             ("OnePlus", "12R", 480, 560), ("Nokia", "G42", 170, 220)]:
    add("smartphone", PHONES, f"{brand} {model}", f"Smartphone with a bright OLED screen, dual camera and 5G; an unlocked mobile phone.",
        ["smartphone", "phone", "5g"], price_between(lo, hi))
for brand, fits, lo, hi in [("Otterbox", "iPhone 15", 40, 60), ("Spigen", "Galaxy S24", 15, 25), ("Casetify", "Pixel 8a", 45, 65),
                            ("Apple", "iPhone 15 Silicone", 45, 50)]:
    add("phone_case", PHONES, f"{brand} Case for {fits}", f"Protective phone case for {fits} with raised edges and a grippy finish.",
        ["phone case", "case"], price_between(lo, hi))
for brand, watts, lo, hi in [("Anker", 65, 40, 55), ("Apple", 20, 18, 20), ("Belkin", 30, 25, 35), ("Ugreen", 100, 60, 80)]:
    add("charger", PHONES, f"{brand} {watts}W USB-C Charger", f"Compact {watts} W USB-C wall charger, fast charging for phones, tablets and laptops.",
        ["charger", "usb-c", "power adapter"], price_between(lo, hi))
for brand, mah, lo, hi in [("Anker", 10000, 25, 35), ("Belkin", 20000, 45, 60), ("Mophie", 15000, 50, 70)]:
    add("power_bank", PHONES, f"{brand} {mah} mAh Power Bank", f"Portable charger battery pack with {mah} mAh to recharge your phone on the go.",
        ["power bank", "battery", "portable"], price_between(lo, hi))
for brand, model, lo, hi in [("Apple", "iPad 10th Gen", 330, 380), ("Samsung", "Galaxy Tab S9 FE", 420, 470),
                             ("Amazon", "Fire HD 10", 110, 150), ("Lenovo", "Tab M10", 140, 180)]:
    add("tablet", PHONES, f"{brand} {model} Tablet", "10-inch tablet for streaming, reading and note-taking.",
        ["tablet"], price_between(lo, hi))
add("e_reader", PHONES, "Kobo Clara 2E E-Reader", "Waterproof 6-inch ebook reader with a glare-free screen and warm light.",
    ["e-reader", "ebooks", "reading"], 139.99)
add("e_reader", PHONES, "Kindle Basic E-Reader", "Light 6-inch ebook reader with weeks of battery life.", ["e-reader", "ebooks"], 99.99)

# --- Home & Kitchen -------------------------------------------------------------------
KITCHEN = "Home & Kitchen"
for brand, model, kind, lo, hi in [
    ("Breville", "Barista Express", "espresso machine", 600, 750), ("De'Longhi", "Dedica", "espresso machine", 250, 330),
    ("Mr. Coffee", "12-Cup", "drip coffee maker", 30, 45), ("Cuisinart", "DCC-3200", "drip coffee maker", 90, 110),
    ("Nespresso", "Vertuo Pop", "capsule coffee machine", 100, 150), ("Bodum", "Chambord", "French press coffee maker", 30, 45),
    ("Hario", "V60", "pour-over coffee dripper", 20, 30), ("Technivorm", "Moccamaster", "drip coffee maker", 320, 360),
]:
    add("coffee_maker", KITCHEN, f"{brand} {model} {kind.title()}", f"{kind.capitalize()} that brews rich coffee at home.",
        ["coffee", "coffee maker", "kitchen"], price_between(lo, hi))
for brand, lo, hi in [("Baratza", 140, 170), ("OXO", 90, 110), ("Krups", 20, 30)]:
    add("coffee_grinder", KITCHEN, f"{brand} Burr Coffee Grinder", "Burr grinder for consistent coffee grounds, from espresso to French press.",
        ["coffee", "grinder"], price_between(lo, hi))
for brand, oz, lo, hi in [("Contigo", 16, 18, 25), ("Zojirushi", 20, 28, 35), ("Stanley", 30, 35, 45), ("Yeti", 20, 30, 40),
                          ("Ember", 10, 120, 150)]:
    desc = (f"Vacuum-insulated {oz} oz travel mug that keeps coffee hot for hours and drinks cold all day; leak-proof lid."
            if brand != "Ember" else "Smart heated coffee mug that keeps your coffee at the exact temperature you choose.")
    add("travel_mug", KITCHEN, f"{brand} {oz} oz {'Travel Mug' if brand != 'Ember' else 'Heated Smart Mug'}", desc,
        ["mug", "insulated", "travel", "coffee"], price_between(lo, hi), keeps_hot=True)
for brand, litres, lo, hi in [("Thermos", 1.2, 30, 40), ("Stanley", 1.4, 40, 50), ("Hydro Flask", 0.9, 35, 45)]:
    add("thermos", KITCHEN, f"{brand} {litres} L Vacuum Flask", "Stainless-steel vacuum flask (thermos) that keeps soup, tea and coffee hot for 24 hours.",
        ["thermos", "insulated", "flask"], price_between(lo, hi), keeps_hot=True)
for material, lo, hi in [("Ceramic", 10, 15), ("Stoneware", 15, 25), ("Glass", 12, 18)]:
    add("mug", KITCHEN, f"{material} Coffee Mug Set of 4", f"Four {material.lower()} mugs for coffee and tea, dishwasher safe.",
        ["mug", "coffee", "tableware"], price_between(lo, hi), keeps_hot=False)
for brand, lo, hi in [("Fellow Stagg", 150, 170), ("Cosori", 30, 40), ("Bonavita", 45, 60)]:
    add("kettle", KITCHEN, f"{brand} Electric Kettle", "Electric kettle with temperature control that heats water fast for tea and pour-over coffee.",
        ["kettle", "tea", "kitchen"], price_between(lo, hi))
for brand, kind, lo, hi in [("Victor", "Snap Mouse Trap 6-Pack", 8, 12), ("Tomcat", "Humane Mouse Trap", 15, 20),
                            ("Victor", "Electronic Mouse Trap", 30, 40)]:
    add("mouse_trap", KITCHEN, f"{brand} {kind}", "Trap that catches mice and rodents in the kitchen, garage or attic; pest control made easy.",
        ["mouse trap", "pest control"], price_between(lo, hi))
for brand, item, lo, hi in [("Wüsthof", "8-inch Chef's Knife", 140, 170), ("Victorinox", "Fibrox Chef's Knife", 40, 55),
                            ("Lodge", "10-inch Cast Iron Skillet", 25, 35), ("All-Clad", "12-inch Stainless Frying Pan", 110, 140),
                            ("Tefal", "Nonstick Frying Pan Set", 45, 65), ("Le Creuset", "Dutch Oven 5.5 qt", 380, 430),
                            ("KitchenAid", "Artisan Stand Mixer", 400, 460), ("Ninja", "Professional Blender", 90, 120),
                            ("Instant Pot", "Duo 6-Quart Pressure Cooker", 80, 100), ("Cosori", "Air Fryer 5.8 qt", 90, 120)]:
    add("kitchen_tool", KITCHEN, f"{brand} {item}", f"{item} for everyday cooking in your kitchen.", ["kitchen", "cookware"],
        price_between(lo, hi))
for brand, item, lo, hi in [("Dyson", "V12 Cordless Vacuum Cleaner", 550, 650), ("Shark", "Navigator Upright Vacuum", 170, 220),
                            ("iRobot", "Roomba i3 Robot Vacuum", 270, 330), ("Levoit", "Core 300 Air Purifier", 90, 110),
                            ("Philips Hue", "White Ambiance Bulb 4-Pack", 45, 60), ("Brooklinen", "Linen Duvet Cover", 220, 280),
                            ("Casper", "Original Pillow", 60, 75)]:
    add("home_item", KITCHEN, f"{brand} {item}", f"{item} for a cleaner, cosier home.", ["home"], price_between(lo, hi))

# --- Pet Supplies ---------------------------------------------------------------------
PETS = "Pet Supplies"
for item, lo, hi in [("Catnip Toy Mouse 3-Pack", 6, 9), ("Feather Wand Cat Toy", 8, 12), ("Plush Squeaky Mouse Cat Toy", 5, 8),
                     ("Interactive Laser Cat Toy", 18, 25), ("Cat Scratching Post", 30, 45), ("Self-Warming Cat Bed", 25, 40)]:
    add("cat_toy" if "Toy" in item else "cat_supply", PETS, item,
        f"{item} for indoor cats: keeps your kitten busy and happy." if "Toy" in item else f"{item} for cats and kittens.",
        ["cat", "pet"] + (["toy"] if "Toy" in item else []), price_between(lo, hi))
for item, lo, hi in [("Kong Classic Dog Toy", 12, 18), ("Rope Tug Dog Toy", 8, 12), ("Orthopedic Dog Bed Large", 60, 90),
                     ("Retractable Dog Leash", 15, 25), ("Stainless Steel Dog Bowl Set", 12, 20), ("Grain-Free Dog Food 24 lb", 55, 70),
                     ("Clumping Cat Litter 20 lb", 15, 22), ("Automatic Pet Feeder", 60, 90), ("Aquarium Starter Kit 10 Gallon", 60, 80)]:
    add("pet_supply", PETS, item, f"{item} for happy, healthy pets.", ["pet"], price_between(lo, hi))

# --- Sports & Outdoors -----------------------------------------------------------------
SPORTS = "Sports & Outdoors"
for brand, model, lo, hi in [("Nike", "Pegasus 40", 120, 140), ("Brooks", "Ghost 15", 130, 150), ("Asics", "Gel-Nimbus 25", 150, 170),
                             ("Hoka", "Clifton 9", 140, 150), ("New Balance", "Fresh Foam 880", 130, 145), ("Saucony", "Ride 16", 120, 140),
                             ("Adidas", "Duramo SL", 60, 75)]:
    add("running_shoes", SPORTS, f"{brand} {model} Running Shoes", "Cushioned road running shoes for daily training and long runs.",
        ["running", "shoes", "sneakers"], price_between(lo, hi))
for brand, lo, hi in [("Manduka", 100, 130), ("Gaiam", 20, 30), ("Lululemon", 80, 110), ("Amazon Basics", 18, 25)]:
    add("yoga_mat", SPORTS, f"{brand} Yoga Mat", "Non-slip cushioned yoga mat for yoga, pilates and home workouts.",
        ["yoga", "mat", "fitness"], price_between(lo, hi))
for brand, oz, lo, hi in [("Hydro Flask", 32, 40, 50), ("Nalgene", 32, 12, 16), ("CamelBak", 25, 15, 20), ("Yeti Rambler", 26, 35, 42)]:
    insulated = brand in ("Hydro Flask", "Yeti Rambler")
    add("water_bottle", SPORTS, f"{brand} {oz} oz Water Bottle",
        f"{'Insulated stainless-steel' if insulated else 'BPA-free plastic'} water bottle for hiking and the gym"
        + ("; keeps water cold for 24 hours and hot drinks hot for 12." if insulated else "."),
        ["water bottle", "hiking"] + (["insulated"] if insulated else []), price_between(lo, hi), keeps_hot=insulated)
for item, lo, hi in [("Coleman Sundome 4-Person Tent", 80, 110), ("REI Half Dome 2-Person Tent", 250, 300),
                     ("Kelty Cosmic 20 Sleeping Bag", 130, 170), ("Therm-a-Rest Sleeping Pad", 50, 80),
                     ("Black Diamond Headlamp", 30, 45), ("Osprey Talon 22 Hiking Backpack", 110, 140),
                     ("Jetboil Flash Camping Stove", 110, 130), ("Trek Marlin 5 Mountain Bike", 650, 800),
                     ("Giro Register Bike Helmet", 50, 65), ("Bowflex Adjustable Dumbbells", 380, 430),
                     ("Wilson NBA Basketball", 25, 35), ("Garmin Forerunner 55 GPS Running Watch", 180, 200),
                     ("Fitbit Inspire 3 Fitness Tracker", 80, 100)]:
    add("outdoor_gear", SPORTS, item, f"{item} for camping, hiking and sport.", ["outdoor", "sport"], price_between(lo, hi))

# --- Clothing --------------------------------------------------------------------------------
CLOTHING = "Clothing"
for item, lo, hi in [("Patagonia Nano Puff Jacket", 200, 240), ("The North Face Resolve Rain Jacket", 90, 110),
                     ("Columbia Watertight II Rain Jacket", 60, 80), ("Uniqlo Ultra Light Down Jacket", 70, 90),
                     ("Levi's Trucker Denim Jacket", 80, 100), ("Canada Goose Expedition Parka", 1100, 1300)]:
    add("jacket", CLOTHING, item, f"{item}: a warm, weather-ready outer layer coat for autumn and winter.",
        ["jacket", "coat", "outerwear"], price_between(lo, hi))
for item, lo, hi in [("Merino Wool Crewneck Sweater", 70, 100), ("Cotton Cable-Knit Sweater", 45, 65), ("Fleece Hoodie", 40, 55),
                     ("Cashmere V-Neck Sweater", 150, 220)]:
    add("sweater", CLOTHING, item, f"{item}, soft and warm knitwear for cold days.", ["sweater", "knitwear"], price_between(lo, hi))
for item, lo, hi in [("Levi's 501 Original Jeans", 60, 80), ("Organic Cotton T-Shirt 3-Pack", 25, 35), ("Chino Pants Slim Fit", 40, 60),
                     ("Merino Hiking Socks 3-Pack", 25, 35), ("Wool Beanie Hat", 15, 25), ("Leather Belt", 30, 50),
                     ("Nike Air Force 1 Sneakers", 100, 115), ("Converse Chuck Taylor Sneakers", 55, 65),
                     ("Dr. Martens 1460 Boots", 160, 180), ("Ray-Ban Aviator Sunglasses", 150, 180)]:
    add("clothing_item", CLOTHING, item, f"{item} — a wardrobe staple.", ["clothing"], price_between(lo, hi))

# --- Books -----------------------------------------------------------------------------------
BOOKS = "Books"
for title, author, topic, lo, hi in [
    ("Clean Code", "Robert C. Martin", "programming", 30, 40), ("The Pragmatic Programmer", "Hunt and Thomas", "programming", 35, 45),
    ("Programming Rust", "Blandy and Orendorff", "programming", 45, 55), ("Fluent Python", "Luciano Ramalho", "programming", 45, 60),
    ("Salt, Fat, Acid, Heat", "Samin Nosrat", "cookbook", 25, 35), ("The Food Lab", "J. Kenji López-Alt", "cookbook", 35, 45),
    ("Dune", "Frank Herbert", "science fiction", 10, 18), ("Project Hail Mary", "Andy Weir", "science fiction", 15, 20),
    ("Pride and Prejudice", "Jane Austen", "classic novel", 8, 12), ("The Very Hungry Caterpillar", "Eric Carle", "children's picture book", 7, 10),
    ("Where the Wild Things Are", "Maurice Sendak", "children's picture book", 8, 12), ("Atomic Habits", "James Clear", "self-help", 15, 20),
    ("Sapiens", "Yuval Noah Harari", "history", 18, 24), ("The Coffee Roaster's Companion", "Scott Rao", "coffee", 30, 40),
]:
    add("book", BOOKS, title, f"{title} by {author}: a {topic} book.", ["book", topic], price_between(lo, hi), topic=topic)

# --- Toys & Games ------------------------------------------------------------------------------
TOYS = "Toys & Games"
for item, lo, hi in [("Catan Board Game", 40, 50), ("Ticket to Ride Board Game", 40, 50), ("1000-Piece Jigsaw Puzzle", 15, 25),
                     ("LEGO Classic Bricks Box", 30, 60), ("Remote Control Monster Truck", 40, 60), ("Plush Teddy Bear", 15, 25),
                     ("Wooden Train Set", 35, 55), ("UNO Card Game", 6, 9), ("Rubik's Cube", 10, 14), ("Nerf Elite Blaster", 20, 30),
                     ("Computer Mouse Shaped Stress Toy", 5, 8), ("Kids Walkie Talkies", 20, 30)]:
    add("toy", TOYS, item, f"{item}: fun for kids and families.", ["toy", "game", "kids"], price_between(lo, hi))

# --- Beauty & Health ----------------------------------------------------------------------------
BEAUTY = "Beauty & Health"
for item, lo, hi in [("Oral-B Pro 1000 Electric Toothbrush", 45, 60), ("Philips Sonicare 4100 Electric Toothbrush", 45, 55),
                     ("Dyson Supersonic Hair Dryer", 400, 430), ("Revlon One-Step Hair Dryer Brush", 35, 50),
                     ("CeraVe Moisturizing Cream", 15, 20), ("Neutrogena Hydro Boost Gel", 18, 24), ("Olaplex No.4 Shampoo", 28, 32),
                     ("Braun Series 7 Electric Shaver", 150, 190), ("Theragun Mini Massage Gun", 170, 200),
                     ("Withings Body+ Smart Scale", 90, 110), ("La Roche-Posay Sunscreen SPF 50", 20, 30)]:
    add("beauty", BEAUTY, item, f"{item} for your daily routine.", ["beauty", "health"], price_between(lo, hi))

# --- Garden & Tools ---------------------------------------------------------------------------------
GARDEN = "Garden & Tools"
for item, lo, hi in [("DeWalt 20V Cordless Drill", 100, 140), ("Stanley 16 oz Claw Hammer", 15, 22), ("Bosch Laser Measure", 50, 70),
                     ("Fiskars Bypass Pruning Shears", 15, 25), ("Flexzilla 50 ft Garden Hose", 40, 55), ("Greenworks Electric Lawn Mower", 250, 320),
                     ("Raised Garden Bed Kit", 60, 90), ("Leaf Rake", 20, 30), ("Solar Garden Lights 8-Pack", 25, 35),
                     ("Weber Spirit Gas Grill", 450, 550), ("Craftsman 230-Piece Tool Set", 100, 140)]:
    add("tool", GARDEN, item, f"{item} for home improvement, the garden and the yard.", ["tools", "garden"], price_between(lo, hi))

# ------------------------------------------------------------------------------------------------
by_kind = {}
for p in products:
    by_kind.setdefault(p["kind"], []).append(p)


def grade(rule):
    """rule: product -> grade (0-3)."""
    return {p["id"]: g for p in products if (g := rule(p)) > 0}


def a(p, key, default=False):
    return p["attrs"].get(key, default)


queries = []


def q(kind, text, rule, min_price=None, max_price=None):
    queries.append({"kind": kind, "query": text, "min_price": min_price, "max_price": max_price, "relevance": grade(rule)})


is_ = lambda *kinds: (lambda p: p["kind"] in kinds)  # noqa: E731

# Keyword
q("keyword", "wireless headphones", lambda p: 3 if p["kind"] == "over_ear_headphones" and a(p, "wireless")
  else 2 if p["kind"] == "in_ear_headphones" and a(p, "wireless") else 1 if p["kind"] == "over_ear_headphones" else 0)
q("keyword", "computer mouse", lambda p: 3 if p["kind"] == "computer_mouse" else 0)
q("keyword", "wireless mouse", lambda p: 3 if p["kind"] == "computer_mouse" and a(p, "wireless") else 1 if p["kind"] == "computer_mouse" else 0)
q("keyword", "mouse trap", lambda p: 3 if p["kind"] == "mouse_trap" else 0)
q("keyword", "cat toy", lambda p: 3 if p["kind"] == "cat_toy" else 1 if p["kind"] == "cat_supply" else 0)
q("keyword", "laptop bag", lambda p: 3 if p["kind"] == "laptop_bag" else 0)
q("keyword", "laptop", lambda p: 3 if p["kind"] == "laptop" else 1 if p["kind"] in ("laptop_bag", "usb_hub") else 0)
q("keyword", "espresso machine", lambda p: 3 if "Espresso" in p["name"] else 1 if p["kind"] == "coffee_maker" else 0)
q("keyword", "running shoes", lambda p: 3 if p["kind"] == "running_shoes" else 1 if "Sneakers" in p["name"] else 0)
q("keyword", "yoga mat", lambda p: 3 if p["kind"] == "yoga_mat" else 0)
q("keyword", "rain jacket", lambda p: 3 if "Rain Jacket" in p["name"] else 1 if p["kind"] == "jacket" else 0)
q("keyword", "electric toothbrush", lambda p: 3 if "Toothbrush" in p["name"] else 0)
q("keyword", "gaming keyboard", lambda p: 3 if "Gaming Keyboard" in p["name"] else 1 if p["kind"] == "keyboard" else 0)
q("keyword", "bluetooth speaker", lambda p: 3 if p["kind"] == "speaker" and a(p, "portable") else 2 if p["kind"] == "speaker" else 0)
q("keyword", "programming book", lambda p: 3 if p["kind"] == "book" and a(p, "topic") == "programming" else 0)

# Synonyms (the catalog uses other words)
q("synonym", "earbuds", lambda p: 3 if p["kind"] == "in_ear_headphones" else 0)
q("synonym", "wireless earbuds", lambda p: 3 if p["kind"] == "in_ear_headphones" and a(p, "wireless") else 1 if p["kind"] == "in_ear_headphones" else 0)
q("synonym", "notebook computer", lambda p: 3 if p["kind"] == "laptop" else 0)
q("synonym", "cell phone", lambda p: 3 if p["kind"] == "smartphone" else 1 if p["kind"] == "phone_case" else 0)
q("synonym", "sneakers for jogging", lambda p: 3 if p["kind"] == "running_shoes" else 1 if "Sneakers" in p["name"] else 0)
q("synonym", "ebook reader", lambda p: 3 if p["kind"] == "e_reader" else 0)
q("synonym", "thermos", lambda p: 3 if p["kind"] == "thermos" else 1 if p["kind"] == "travel_mug" else 0)
q("synonym", "portable charger", lambda p: 3 if p["kind"] == "power_bank" else 1 if p["kind"] == "charger" else 0)
q("synonym", "winter coat", lambda p: 3 if p["kind"] == "jacket" else 0)
q("synonym", "jumper", lambda p: 3 if p["kind"] == "sweater" else 0)

# Price-bounded
q("price", "wireless headphones under $200",
  lambda p: (3 if p["kind"] == "over_ear_headphones" and a(p, "wireless") else 2 if p["kind"] == "in_ear_headphones" and a(p, "wireless") else 1 if p["kind"] == "over_ear_headphones" else 0) if p["price"] < 200 else 0,
  max_price=199.99)
q("price", "laptop under $800", lambda p: 3 if p["kind"] == "laptop" and p["price"] < 800 else 0, max_price=799.99)
q("price", "running shoes between 100 and 140 dollars",
  lambda p: 3 if p["kind"] == "running_shoes" and 100 <= p["price"] <= 140 else 0, min_price=100, max_price=140)
q("price", "coffee maker over $200", lambda p: 3 if p["kind"] == "coffee_maker" and p["price"] > 200 else 0, min_price=200.01)
q("price", "mouse less than $30", lambda p: 3 if p["kind"] == "computer_mouse" and p["price"] < 30 else 0, max_price=29.99)
q("price", "monitor up to $200", lambda p: 3 if p["kind"] == "monitor" and p["price"] <= 200 else 0, max_price=200)
q("price", "jacket over $1000", lambda p: 3 if p["kind"] == "jacket" and p["price"] > 1000 else 0, min_price=1000.01)
q("price", "board game under $60", lambda p: 3 if "Board Game" in p["name"] and p["price"] < 60 else 0, max_price=59.99)
q("price", "cheap wireless mouse", lambda p: 3 if p["kind"] == "computer_mouse" and a(p, "wireless") and p["price"] < 40
  else 1 if p["kind"] == "computer_mouse" and p["price"] < 40 else 0)
q("price", "premium headphones", lambda p: 3 if p["kind"] in ("over_ear_headphones", "in_ear_headphones") and p["price"] >= 200 else 0)

# Typos
q("typo", "wireles hedphones", lambda p: 3 if p["kind"] == "over_ear_headphones" and a(p, "wireless")
  else 2 if p["kind"] == "in_ear_headphones" and a(p, "wireless") else 1 if p["kind"] == "over_ear_headphones" else 0)
q("typo", "laptpo", lambda p: 3 if p["kind"] == "laptop" else 1 if p["kind"] in ("laptop_bag", "usb_hub") else 0)
q("typo", "expresso machine", lambda p: 3 if "Espresso" in p["name"] else 1 if p["kind"] == "coffee_maker" else 0)
q("typo", "moniter", lambda p: 3 if p["kind"] == "monitor" else 0)
q("typo", "keybaord", lambda p: 3 if p["kind"] == "keyboard" else 0)
q("typo", "toothbrsh electric", lambda p: 3 if "Toothbrush" in p["name"] else 0)
q("typo", "yoga matt", lambda p: 3 if p["kind"] == "yoga_mat" else 0)
q("typo", "sleepng bag", lambda p: 3 if "Sleeping Bag" in p["name"] else 0)

# Intent
q("intent", "something to keep my coffee hot", lambda p: 3 if a(p, "keeps_hot") and p["kind"] in ("travel_mug", "thermos") else 2 if a(p, "keeps_hot") else 0)
q("intent", "I need to get rid of mice in my kitchen", lambda p: 3 if p["kind"] == "mouse_trap" else 0)
q("intent", "a toy to keep my cat busy", lambda p: 3 if p["kind"] == "cat_toy" else 1 if p["kind"] == "cat_supply" else 0)
q("intent", "block out noise on a flight", lambda p: 3 if a(p, "anc") else 1 if p["kind"] == "in_ear_headphones" else 0)
q("intent", "stay dry when it rains", lambda p: 3 if "Rain Jacket" in p["name"] else 0)
q("intent", "carry my laptop to work", lambda p: 3 if p["kind"] == "laptop_bag" else 0)
q("intent", "charge my phone on the go", lambda p: 3 if p["kind"] == "power_bank" else 1 if p["kind"] == "charger" else 0)
q("intent", "make espresso at home", lambda p: 3 if "Espresso" in p["name"] else 1 if p["kind"] in ("coffee_maker", "coffee_grinder") else 0)
q("intent", "learn to cook", lambda p: 3 if p["kind"] == "book" and a(p, "topic") == "cookbook" else 0)
q("intent", "video calls from home", lambda p: 3 if p["kind"] == "webcam" else 0)

# Negative: nothing in the catalog fits; the answer must hold no products.
for text in ["car tires", "prescription glasses", "wedding dress", "piano lessons", "life insurance",
             "snow chains for trucks", "guitar strings", "a pet snake", "saxophone reeds", "diesel generator"]:
    queries.append({"kind": "negative", "query": text, "min_price": None, "max_price": None, "relevance": {}})

catalog = [{k: v for k, v in p.items() if k not in ("kind", "attrs")} for p in products]
with open(os.path.join(HERE, "catalog.json"), "w") as f:
    json.dump(catalog, f, indent=1, ensure_ascii=False)
    f.write("\n")
with open(os.path.join(HERE, "queries.json"), "w") as f:
    json.dump(queries, f, indent=1, ensure_ascii=False)
    f.write("\n")
kinds = {}
for qq in queries:
    kinds[qq["kind"]] = kinds.get(qq["kind"], 0) + 1
print(f"{len(catalog)} products in {len({p['category'] for p in catalog})} categories; {len(queries)} queries {kinds}")
