"""The demo's world as data: its partners, what they sell, how they earn, what they are paid; its members' names.

Everything a scene books comes from here or from `random.Random(seed)`, so
one seed gives the same baskets and so the same points on every run. Money is
integer cents, written as the API's decimal strings; no float touches a price.
"""

from __future__ import annotations

from dataclasses import dataclass

TIMEZONE = "Europe/Paris"
CURRENCY = "EUR"
DAYS = 28
REFUND_RATE = 0.08  # share of sales later refunded, in part or in full
REDEMPTIONS_PER_SALE = 0.15  # redemption attempts per sale
REFUSED_RATE = 0.12  # share of redemption attempts that ask for more than the card holds
HOME_SHARE = 0.65  # share of a member's sales at their own partner
REWARDS = (50, 100, 150, 200, 250, 300, 400, 500)  # points a till offers to redeem


# ---------------------------------------------------------------- the partners and what they sell


@dataclass(frozen=True)
class Product:
    sku: str
    category: str
    cents: int  # unit price; per kg or per litre when `unit` says so
    unit: str | None = None  # "kg" (3-decimal quantity) or "l" (2-decimal quantity)


@dataclass(frozen=True)
class Trade:
    slug: str
    name: str
    trade: str
    rules: tuple[dict, ...]  # the partner's earning rules, as POST /v1/partners takes them
    weight: float  # how often a member shops there, relative to the others
    prefix: str  # of the till's receipt numbers
    hours: tuple[int, int]  # opening hours, local time
    products: tuple[Product, ...]
    basket: tuple[int, int]  # allowed total, in cents
    items: tuple[int, int]  # lines per basket


# Each trade's rules are what such a retailer would ask for (docs/plugins.md, "The built-in rules").
# Coffee: coffee counts double and weekends double again (extras add: 3x the base), capped per sale;
# a review earns points once a day.
BREW_BAR_RULES = (
    {"rule": "base_rate", "rate": "1"},
    {"rule": "category_multiplier", "category": "coffee", "multiplier": "2"},
    {"rule": "day_of_week", "days": ["sat", "sun"], "multiplier": "2"},
    {"rule": "cap", "max_points": 30},
    {"rule": "action", "action": "review", "points": 20, "per_day": 1},
)
# A grocer: nothing under 10 EUR, a push on olive oil, and a member who brings a friend is thanked.
GREEN_GROCER_RULES = (
    {"rule": "minimum_spend", "amount": "10"},
    {"rule": "base_rate", "rate": "1"},
    {"rule": "sku_bonus", "sku": "OLIVE-OIL-1L", "points": 25},
    {"rule": "referral", "referrer_points": 100, "referred_points": 50},
)
# Fuel: thin margins, half a point per euro, and a welcome bonus to win the card into the wallet.
FUEL_STOP_RULES = (
    {"rule": "base_rate", "rate": "0.5"},
    {"rule": "welcome_bonus", "points": 50},
)

PARTNERS = (
    Trade(
        "brew-bar", "Brew Bar", "coffee chain", BREW_BAR_RULES, 0.45, "BB", (7, 19),
        (
            Product("ESPRESSO", "coffee", 240),
            Product("CAPPUCCINO", "coffee", 340),
            Product("LATTE", "coffee", 380),
            Product("FLAT-WHITE", "coffee", 360),
            Product("CHAI-LATTE", "tea", 390),
            Product("CROISSANT", "bakery", 180),
            Product("MUFFIN", "bakery", 280),
            Product("BAGEL-SALMON", "food", 650),
            Product("BEANS-250G", "retail", 890),
        ),
        (280, 1200), (1, 3),
    ),
    Trade(
        "green-grocer", "Green Grocer", "grocer", GREEN_GROCER_RULES, 0.35, "GG", (8, 21),
        (
            Product("APPLES", "produce", 329, "kg"),
            Product("TOMATOES", "produce", 449, "kg"),
            Product("BANANAS", "produce", 199, "kg"),
            Product("POTATOES", "produce", 159, "kg"),
            Product("COMTE", "cheese", 2490, "kg"),
            Product("MILK-1L", "dairy", 119),
            Product("YOGURT-4", "dairy", 259),
            Product("EGGS-12", "dairy", 389),
            Product("BAGUETTE", "bakery", 130),
            Product("PASTA-500G", "pantry", 165),
            Product("OLIVE-OIL-1L", "pantry", 1190),
            Product("COFFEE-1KG", "pantry", 1590),
            Product("WINE-BORDEAUX", "drinks", 1290),
            Product("DISH-SOAP", "household", 279),
        ),
        (800, 12000), (2, 14),
    ),
    Trade(
        "fuel-stop", "Fuel Stop", "fuel station", FUEL_STOP_RULES, 0.20, "FS", (6, 22),
        (
            Product("SP95-E10", "fuel", 179, "l"),
            Product("DIESEL", "fuel", 169, "l"),
        ),
        (3000, 9000), (1, 1),
    ),
)

@dataclass(frozen=True)
class PluginPartner:
    """A partner that keeps its own format: the hub reads it through an adapter plugin, not the canonical JSON."""

    slug: str
    name: str
    trade: str
    adapter: str
    rules: tuple[dict, ...]


@dataclass(frozen=True)
class ShopProduct:
    sku: str
    product_type: str  # Shopify's product type: the hub reads it as the line's category
    title: str
    cents: int


# An online roaster on Shopify: its orders and refunds arrive as Shopify's own signed webhooks.
SHOP = PluginPartner("northside-roasters", "Northside Roasters", "online roaster", "shopify", (
    {"rule": "base_rate", "rate": "1"},
    {"rule": "category_multiplier", "category": "coffee", "multiplier": "2"},
))
SHOP_PRODUCTS = (
    ShopProduct("NR-ESPRESSO-1KG", "Coffee", "Espresso Blend - 1 kg", 2890),
    ShopProduct("NR-GUJI-250G", "Coffee", "Ethiopia Guji Filter - 250 g", 1150),
    ShopProduct("NR-COLDBREW-1L", "Coffee", "Cold Brew Concentrate - 1 L", 1800),
    ShopProduct("HARIO-V60-W", "Brewing gear", "Ceramic Pour-Over Dripper - White", 3250),
    ShopProduct("NR-MUG-ENAMEL", "Merch", "Enamel Mug", 1400),
)
SHOP_ORDERS = 4  # orders/create webhooks booked; one more is forged and refused
SHOP_ORDER_IDS = 5864920318200  # Shopify's order ids are large integers
SHIPPING, FREE_SHIPPING = 490, 4000  # cents: shipping earns no points (the hub reads the subtotal)

# A bookshop whose till writes an end-of-day CSV export; Saturdays are double points there.
BOOKSHOP = PluginPartner("page-and-plume", "Page & Plume", "bookshop", "csv", (
    {"rule": "base_rate", "rate": "1"},
    {"rule": "day_of_week", "days": ["sat"], "multiplier": "2"},
))
BOOK_PRICES = (690, 790, 890, 1050, 1290, 1590, 1890, 2200, 2450, 3500)
EXPORT_SALES = 34  # sales in the export; with one refund and one mistyped row, 36 rows
EXPORT_DAY = DAYS - 2  # the period's last Saturday: day 0 is a Monday

PLUGIN_PARTNERS = (SHOP, BOOKSHOP)
# A bike shop with a 14-day return window: its sales' points stay pending until the window has passed.
BIKE_SHOP = PluginPartner("cycle-works", "Cycle Works", "bike shop", "canonical", ({"rule": "base_rate", "rate": "1"},))
RETURN_DAYS = 14
DEMO_SLUGS = frozenset(t.slug for t in PARTNERS) | {p.slug for p in PLUGIN_PARTNERS} | {BIKE_SHOP.slug}

FIRST_NAMES = (
    "Ann", "Bruno", "Chloe", "David", "Emma", "Farid", "Giulia", "Hugo", "Ines", "Jonas", "Karim", "Lea",
    "Marc", "Nadia", "Oscar", "Paula", "Quentin", "Rosa", "Samir", "Tess", "Ugo", "Vera", "Wen", "Yanis", "Zoe",
)
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Simon", "Michel", "Garcia", "Rossi", "Nguyen",
    "Fischer", "Leroy", "Roux", "Fontaine", "Chevalier", "Lambert", "Bonnet", "Mercier", "Dupont", "Costa",
)


def money(cents: int) -> str:
    """Integer cents as the API's decimal string: 1250 -> "12.50"."""
    return f"{cents // 100}.{cents % 100:02d}"


def cents_of(text: str) -> int:
    """A decimal string as the API writes money ("12.50") back to integer cents."""
    units, _, cents = text.partition(".")
    return int(units) * 100 + int(cents.ljust(2, "0"))


def round_div(numerator: int, denominator: int) -> int:
    """Round half up, in integers."""
    return (2 * numerator + denominator) // (2 * denominator)


def product(slug: str, sku: str) -> Product:
    return next(p for t in PARTNERS if t.slug == slug for p in t.products if p.sku == sku)


# ---------------------------------------------------------------- the member-life scenes

BIKE_PRODUCTS = (Product("HELMET-MIPS", "safety", 8990), Product("LIGHT-SET-USB", "lights", 6000))
EXPIRED_DAYS_AGO = 7  # the first member's points, alive a lifetime after their last redemption, expired a week ago
FIRST_SPEND = 100  # points that member spends once the return window is over
WARNED_DAYS_AHEAD = 20  # `coalition events scan` runs this many days before they expire (within the warning window)
# One ladder for the whole network, set after the four weeks so that their sales (the figures above) earn no tier award.
TIERS = (
    {"name": "Blue", "threshold": 0, "multiplier": "1"},
    {"name": "Silver", "threshold": 500, "multiplier": "1.25"},
    {"name": "Gold", "threshold": 2000, "multiplier": "1.5"},
)
CAR_WASH = {"sku": "CAR-WASH", "name": "Premium car wash", "points": 700}  # Fuel Stop's reward, the nudge's target
GOODWILL = {"points": 40, "reason": "goodwill: the car wash was out of order"}
PUMP_HOLD, PUMP_CAPTURE = 300, 245  # points held before a fill-up, and captured for what went into the tank


# ---------------------------------------------------------------- what the partners signed


@dataclass(frozen=True)
class Terms:
    """A contract version as PUT /v1/partners/<slug>/contract takes it: EUR per point, as decimal strings."""

    issue_fee: str  # paid to the network for each point the partner issues
    redeem_rate: str  # received for each point of another issuer spent at the partner's till


# A point is worth a cent where it is spent; the fuel station, on thin margins, takes 0.8 of a cent and pays less
# to issue. The network lives on the issue fees.
CONTRACTS = {
    "brew-bar": Terms("0.002", "0.01"),
    "green-grocer": Terms("0.002", "0.01"),
    "fuel-stop": Terms("0.001", "0.008"),
    "northside-roasters": Terms("0.002", "0.01"),
    "page-and-plume": Terms("0.002", "0.01"),
    "cycle-works": Terms("0.002", "0.01"),
}
#: The partner whose own section of the statement the demo saves and verifies, as that partner would.
SECTION_OF = "brew-bar"
