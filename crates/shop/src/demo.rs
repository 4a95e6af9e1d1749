//! The demo catalog `shop up` loads into an empty store: realistic products in six
//! categories, each with stock. `prod-001` is the original README's iPhone.

use contracts::Money;
use inventory::domain::NewItem;
use product::domain::Product;

/// (id, name, category, price in cents, stock, tags, description)
type Row = (&'static str, &'static str, &'static str, i64, i64, &'static [&'static str], &'static str);

const CATALOG: &[Row] = &[
    (
        "prod-001",
        "iPhone 15 Pro",
        "Electronics",
        99_999,
        100,
        &["smartphone", "apple", "5g"],
        "Apple's titanium flagship with the A17 Pro chip, a 48 MP main camera and USB-C.",
    ),
    (
        "prod-002",
        "Samsung Galaxy S24",
        "Electronics",
        79_999,
        80,
        &["smartphone", "samsung", "android", "5g"],
        "6.2-inch AMOLED Android phone with Galaxy AI features and a triple camera.",
    ),
    (
        "prod-003",
        "Google Pixel 8",
        "Electronics",
        69_900,
        60,
        &["smartphone", "google", "android"],
        "Pixel with Tensor G3, seven years of updates and a computational-photography camera.",
    ),
    (
        "prod-004",
        "MacBook Air 13 M3",
        "Electronics",
        109_900,
        40,
        &["laptop", "apple", "macos"],
        "Fanless 13.6-inch laptop with the M3 chip, 8 GB memory and all-day battery life.",
    ),
    (
        "prod-005",
        "Dell XPS 15",
        "Electronics",
        149_999,
        25,
        &["laptop", "dell", "windows"],
        "15.6-inch OLED laptop with Intel Core Ultra 7 and RTX 4050 graphics.",
    ),
    (
        "prod-006",
        "Sony WH-1000XM5 Headphones",
        "Electronics",
        39_999,
        120,
        &["headphones", "sony", "noise-cancelling", "wireless"],
        "Over-ear wireless headphones with industry-leading noise cancelling and 30-hour battery.",
    ),
    (
        "prod-007",
        "AirPods Pro (2nd generation)",
        "Electronics",
        24_900,
        150,
        &["earbuds", "apple", "wireless", "noise-cancelling"],
        "In-ear buds with adaptive audio, transparency mode and a USB-C MagSafe case.",
    ),
    (
        "prod-008",
        "iPad Air 11",
        "Electronics",
        59_900,
        50,
        &["tablet", "apple"],
        "11-inch Liquid Retina tablet with the M2 chip and Apple Pencil Pro support.",
    ),
    (
        "prod-009",
        "Kindle Paperwhite",
        "Electronics",
        14_999,
        200,
        &["e-reader", "amazon"],
        "Waterproof 6.8-inch e-reader with adjustable warm light and weeks of battery.",
    ),
    (
        "prod-010",
        "Logitech MX Master 3S",
        "Electronics",
        9_999,
        180,
        &["mouse", "logitech", "wireless"],
        "Ergonomic wireless mouse with quiet clicks, 8K DPI tracking and MagSpeed scrolling.",
    ),
    (
        "prod-011",
        "Nintendo Switch OLED",
        "Electronics",
        34_999,
        70,
        &["gaming", "console", "nintendo"],
        "Hybrid console with a vivid 7-inch OLED screen, 64 GB storage and a wide adjustable stand.",
    ),
    (
        "prod-012",
        "Anker 737 Power Bank",
        "Electronics",
        10_999,
        90,
        &["charger", "usb-c", "portable"],
        "24,000 mAh power bank with 140 W USB-C output that charges a laptop on the go.",
    ),
    (
        "prod-013",
        "Clean Code",
        "Books",
        3_799,
        75,
        &["programming", "software", "craftsmanship"],
        "Robert C. Martin's handbook of agile software craftsmanship.",
    ),
    (
        "prod-014",
        "The Pragmatic Programmer",
        "Books",
        4_499,
        60,
        &["programming", "career"],
        "Andrew Hunt and David Thomas on the journey from journeyman to master, 20th anniversary edition.",
    ),
    (
        "prod-015",
        "Designing Data-Intensive Applications",
        "Books",
        4_999,
        55,
        &["databases", "distributed-systems", "architecture"],
        "Martin Kleppmann's guide to the big ideas behind reliable, scalable, maintainable systems.",
    ),
    (
        "prod-016",
        "The Rust Programming Language",
        "Books",
        3_995,
        40,
        &["programming", "rust"],
        "The official book on Rust, by Steve Klabnik and Carol Nichols, covering Rust 2021.",
    ),
    (
        "prod-017",
        "Atomic Habits",
        "Books",
        1_899,
        150,
        &["self-help", "habits", "productivity"],
        "James Clear's easy and proven way to build good habits and break bad ones.",
    ),
    (
        "prod-018",
        "Project Hail Mary",
        "Books",
        1_699,
        90,
        &["fiction", "science-fiction"],
        "Andy Weir's novel of a lone astronaut, a failing sun and an unlikely friendship.",
    ),
    (
        "prod-019",
        "Sapiens",
        "Books",
        2_199,
        80,
        &["history", "non-fiction"],
        "Yuval Noah Harari's brief history of humankind.",
    ),
    (
        "prod-020",
        "Dune",
        "Books",
        1_099,
        120,
        &["fiction", "science-fiction", "classic"],
        "Frank Herbert's epic of politics, religion and ecology on the desert planet Arrakis.",
    ),
    (
        "prod-021",
        "Instant Pot Duo 7-in-1",
        "Home & Kitchen",
        8_999,
        65,
        &["pressure-cooker", "kitchen", "appliance"],
        "6-quart multicooker: pressure cooker, slow cooker, rice cooker, steamer, sauté pan and more.",
    ),
    (
        "prod-022",
        "Nespresso Vertuo Next",
        "Home & Kitchen",
        15_900,
        45,
        &["coffee", "espresso", "appliance"],
        "Capsule machine brewing coffee and espresso at the touch of a button.",
    ),
    (
        "prod-023",
        "Dyson V15 Detect",
        "Home & Kitchen",
        74_999,
        20,
        &["vacuum", "cordless", "dyson"],
        "Cordless vacuum with a laser that reveals microscopic dust and a particle counter.",
    ),
    (
        "prod-024",
        "Le Creuset Dutch Oven 5.5 qt",
        "Home & Kitchen",
        41_995,
        30,
        &["cookware", "cast-iron"],
        "Enamelled cast-iron round Dutch oven for braising, baking and slow cooking.",
    ),
    (
        "prod-025",
        "Vitamix E310 Blender",
        "Home & Kitchen",
        34_995,
        35,
        &["blender", "kitchen", "appliance"],
        "Professional-grade 48-ounce blender with variable speed and pulse.",
    ),
    (
        "prod-026",
        "Philips Hue Starter Kit",
        "Home & Kitchen",
        19_999,
        55,
        &["smart-home", "lighting"],
        "Three colour smart bulbs and a bridge, controllable by app and voice.",
    ),
    (
        "prod-027",
        "Cuisinart Chef's Knife 8-inch",
        "Home & Kitchen",
        2_999,
        110,
        &["knife", "cookware"],
        "High-carbon stainless-steel chef's knife with an ergonomic handle.",
    ),
    (
        "prod-028",
        "Brooklinen Luxe Sheet Set",
        "Home & Kitchen",
        18_900,
        40,
        &["bedding", "cotton"],
        "480-thread-count sateen cotton sheets, buttery smooth and breathable.",
    ),
    (
        "prod-029",
        "Yeti Rambler 20 oz Tumbler",
        "Sports & Outdoors",
        3_500,
        160,
        &["drinkware", "insulated", "outdoor"],
        "Double-wall vacuum-insulated stainless tumbler that keeps drinks cold or hot for hours.",
    ),
    (
        "prod-030",
        "Hydro Flask 32 oz Water Bottle",
        "Sports & Outdoors",
        4_495,
        140,
        &["drinkware", "insulated", "hiking"],
        "Wide-mouth insulated bottle with a flex cap, cold for 24 hours.",
    ),
    (
        "prod-031",
        "Manduka PRO Yoga Mat",
        "Sports & Outdoors",
        12_900,
        50,
        &["yoga", "fitness", "mat"],
        "6 mm dense-cushion yoga mat with a lifetime guarantee.",
    ),
    (
        "prod-032",
        "Bowflex SelectTech 552 Dumbbells",
        "Sports & Outdoors",
        42_900,
        15,
        &["fitness", "weights", "home-gym"],
        "Adjustable dumbbells from 5 to 52.5 lb, replacing fifteen sets of weights.",
    ),
    (
        "prod-033",
        "Garmin Forerunner 265",
        "Sports & Outdoors",
        44_999,
        35,
        &["running", "gps", "watch", "fitness"],
        "GPS running smartwatch with an AMOLED display and training readiness insights.",
    ),
    (
        "prod-034",
        "Coleman Sundome 4-Person Tent",
        "Sports & Outdoors",
        8_999,
        45,
        &["camping", "tent", "outdoor"],
        "Dome tent for four that sets up in ten minutes, with WeatherTec protection.",
    ),
    (
        "prod-035",
        "Osprey Atmos AG 65 Backpack",
        "Sports & Outdoors",
        32_000,
        20,
        &["hiking", "backpack", "camping"],
        "Anti-gravity suspension backpacking pack for multi-day trips.",
    ),
    (
        "prod-036",
        "Wilson Evolution Basketball",
        "Sports & Outdoors",
        7_999,
        70,
        &["basketball", "indoor"],
        "The number-one indoor game ball with a cushioned composite cover.",
    ),
    (
        "prod-037",
        "Levi's 501 Original Jeans",
        "Clothing",
        6_950,
        130,
        &["jeans", "denim", "levis"],
        "The original straight-fit button-fly jean since 1873.",
    ),
    (
        "prod-038",
        "Patagonia Better Sweater Fleece",
        "Clothing",
        13_900,
        60,
        &["fleece", "jacket", "outdoor"],
        "Warm knitted polyester fleece jacket made with recycled materials.",
    ),
    (
        "prod-039",
        "Nike Air Force 1 '07",
        "Clothing",
        11_000,
        85,
        &["sneakers", "shoes", "nike"],
        "The classic basketball-born sneaker in crisp leather.",
    ),
    (
        "prod-040",
        "Adidas Ultraboost Light",
        "Clothing",
        19_000,
        70,
        &["running", "shoes", "adidas"],
        "Lightweight running shoe with Boost cushioning for energy return.",
    ),
    (
        "prod-041",
        "Uniqlo Ultra Light Down Jacket",
        "Clothing",
        6_990,
        95,
        &["jacket", "down", "packable"],
        "Packable down jacket that is warm, light and folds into its own pouch.",
    ),
    (
        "prod-042",
        "Ray-Ban Wayfarer Classic",
        "Clothing",
        16_300,
        50,
        &["sunglasses", "accessories"],
        "Iconic acetate sunglasses with G-15 polarised lenses.",
    ),
    (
        "prod-043",
        "CeraVe Moisturizing Cream",
        "Beauty & Health",
        1_899,
        200,
        &["skincare", "moisturizer"],
        "Rich, non-greasy cream with ceramides and hyaluronic acid for dry skin.",
    ),
    (
        "prod-044",
        "Oral-B iO Series 9 Toothbrush",
        "Beauty & Health",
        29_999,
        40,
        &["toothbrush", "electric", "dental"],
        "Smart electric toothbrush with AI brushing recognition and a magnetic drive.",
    ),
    (
        "prod-045",
        "Theragun Mini",
        "Beauty & Health",
        19_900,
        30,
        &["massage", "recovery", "fitness"],
        "Compact percussive massage device for muscle recovery anywhere.",
    ),
    (
        "prod-046",
        "Fitbit Charge 6",
        "Beauty & Health",
        15_995,
        75,
        &["fitness", "tracker", "heart-rate"],
        "Fitness tracker with built-in GPS, heart-rate monitoring and Google apps.",
    ),
    (
        "prod-047",
        "Dyson Supersonic Hair Dryer",
        "Beauty & Health",
        42_999,
        8,
        &["hair", "dryer", "dyson"],
        "Fast, quiet hair dryer with intelligent heat control to protect shine.",
    ),
    (
        "prod-048",
        "JBL Tune 520BT Wireless Headphones",
        "Electronics",
        4_999,
        200,
        &["headphones", "jbl", "wireless", "bluetooth"],
        "Light on-ear wireless headphones with 57-hour battery and multipoint Bluetooth.",
    ),
    (
        "prod-049",
        "Sony WF-C700N Wireless Earbuds",
        "Electronics",
        11_999,
        140,
        &["earbuds", "sony", "wireless", "noise-cancelling"],
        "Compact noise-cancelling wireless earbuds with a 20-hour case.",
    ),
];

fn image_url(id: &str) -> String {
    format!("https://images.example.com/products/{id}.jpg")
}

/// The catalog's products.
pub fn products() -> Vec<Product> {
    let now = kit::db::Timestamp::now().get();
    CATALOG
        .iter()
        .map(|(id, name, category, cents, _, tags, description)| Product {
            id: (*id).to_owned(),
            name: (*name).to_owned(),
            description: (*description).to_owned(),
            price: Money::from_cents(*cents),
            category: (*category).to_owned(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            image_url: Some(image_url(id)),
            stock_quantity: 0,
            attributes: serde_json::Map::new(),
            created_at: now,
            updated_at: now,
        })
        .collect()
}

/// Stock for every catalog product.
pub fn stock() -> Vec<NewItem> {
    CATALOG
        .iter()
        .map(|(id, name, _, _, quantity, _, _)| NewItem {
            product_id: (*id).to_owned(),
            product_name: (*name).to_owned(),
            quantity: *quantity,
            low_stock_threshold: inventory::domain::DEFAULT_LOW_STOCK_THRESHOLD,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_big_and_varied_enough() {
        let products = products();
        assert!(products.len() >= 40);
        let mut categories: Vec<_> = products.iter().map(|p| p.category.as_str()).collect();
        categories.sort_unstable();
        categories.dedup();
        assert!(categories.len() >= 5);
        let iphone = products.iter().find(|p| p.id == "prod-001");
        assert_eq!(iphone.map(|p| (p.name.as_str(), p.price.to_string())), Some(("iPhone 15 Pro", "999.99".into())));
        assert_eq!(stock().len(), products.len());
        for p in &products {
            assert!(product::domain::valid_id(&p.id), "{}", p.id);
        }
    }
}
