//! Materials, roles and processes of the rare-earth chain (DESIGN.md §3), and the process table
//! as data: which forms each process turns into which, and which roles may run it.
//!
//! The table follows the five links of the chain — mining and beneficiation, cracking and
//! separation, metal/alloy/magnet making, end use, recycling — and is documented, row for row, in
//! docs/MODEL.md (a unit test keeps the two in step). Every process except `split` and `merge`
//! may also emit `scrap` (tailings, residues, swarf, rejects): material that still carries rare
//! earths and may later be recycled.

use std::fmt;

use serde::de::{Error as _, Unexpected};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $number:literal => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        ///
        /// Stored by its pinned number (binary formats: one byte), written by its name (JSON):
        /// docs/FORMAT.md, "Pinned numbers".
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vdoc])* $variant = $number),+
        }

        impl $name {
            /// Every value, in declaration order (which is the order of their numbers).
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Every JSON name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The JSON name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Looks a value up by its JSON name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The pinned number it is stored as. A number never changes meaning: new values
            /// get the next number, at the end.
            pub fn number(self) -> u8 {
                self as u8
            }

            /// Looks a value up by its pinned number.
            pub fn from_number(number: u8) -> Option<Self> {
                match number {
                    $($number => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(self.as_str())
                } else {
                    s.serialize_u8(self.number())
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let name = String::deserialize(d)?;
                    $name::from_name(&name)
                        .ok_or_else(|| D::Error::unknown_variant(&name, $name::NAMES))
                } else {
                    let number = u8::deserialize(d)?;
                    $name::from_number(number).ok_or_else(|| {
                        D::Error::invalid_value(
                            Unexpected::Unsigned(number.into()),
                            &concat!("a pinned number of ", stringify!($name)),
                        )
                    })
                }
            }
        }
    };
}

named_enum!(
    /// The 17 rare-earth elements: the 15 lanthanides plus scandium and yttrium. JSON: the symbol.
    Element {
        /// Lanthanum
        La = 0 => "La",
        /// Cerium
        Ce = 1 => "Ce",
        /// Praseodymium
        Pr = 2 => "Pr",
        /// Neodymium
        Nd = 3 => "Nd",
        /// Promethium
        Pm = 4 => "Pm",
        /// Samarium
        Sm = 5 => "Sm",
        /// Europium
        Eu = 6 => "Eu",
        /// Gadolinium
        Gd = 7 => "Gd",
        /// Terbium
        Tb = 8 => "Tb",
        /// Dysprosium
        Dy = 9 => "Dy",
        /// Holmium
        Ho = 10 => "Ho",
        /// Erbium
        Er = 11 => "Er",
        /// Thulium
        Tm = 12 => "Tm",
        /// Ytterbium
        Yb = 13 => "Yb",
        /// Lutetium
        Lu = 14 => "Lu",
        /// Scandium
        Sc = 15 => "Sc",
        /// Yttrium
        Y = 16 => "Y",
    }
);

impl Element {
    /// Heavy rare earths: gadolinium to lutetium, plus yttrium (which occurs with them).
    pub fn is_heavy(self) -> bool {
        matches!(
            self,
            Element::Gd
                | Element::Tb
                | Element::Dy
                | Element::Ho
                | Element::Er
                | Element::Tm
                | Element::Yb
                | Element::Lu
                | Element::Y
        )
    }

    /// Dysprosium and terbium: the scarce heavy rare earths that high-temperature NdFeB magnets
    /// need, and the ones supply-chain due diligence watches most closely.
    pub fn is_scarce(self) -> bool {
        matches!(self, Element::Dy | Element::Tb)
    }
}

named_enum!(
    /// The physical form of a batch, in chain order.
    Form {
        /// Mined rock.
        Ore = 0 => "ore",
        /// Mineral concentrate after beneficiation (e.g. bastnäsite, monazite concentrate).
        Concentrate = 1 => "concentrate",
        /// Mixed rare-earth compound (carbonate, chloride) after cracking/leaching.
        MixedCompound = 2 => "mixed_compound",
        /// Separated oxide (e.g. NdPr oxide, Dy2O3).
        Oxide = 3 => "oxide",
        /// Rare-earth metal.
        Metal = 4 => "metal",
        /// Alloy (e.g. NdFeB strip-cast alloy, DyFe).
        Alloy = 5 => "alloy",
        /// Sintered or bonded magnet.
        Magnet = 6 => "magnet",
        /// Assembled component (rotor, motor).
        Component = 7 => "component",
        /// End product (vehicle, turbine, device).
        Product = 8 => "product",
        /// Scrap, tailings, residues, swarf, end-of-life material.
        Scrap = 9 => "scrap",
    }
);

named_enum!(
    /// What a participant is registered to do.
    Role {
        /// Runs the registry (genesis, actors, keys).
        Authority = 0 => "authority",
        /// Extracts ore at its mines.
        Miner = 1 => "miner",
        /// Beneficiation and cracking.
        Processor = 2 => "processor",
        /// Cracking and solvent-extraction separation into oxides.
        Separator = 3 => "separator",
        /// Reduces oxides to metal, makes alloys.
        Metallizer = 4 => "metallizer",
        /// Makes alloys and magnets.
        MagnetMaker = 5 => "magnet_maker",
        /// Assembles magnets into components and products.
        Manufacturer = 6 => "manufacturer",
        /// Recovers oxide, metal or alloy from scrap and end-of-life goods.
        Recycler = 7 => "recycler",
        /// Attaches claims (assays, audits) to batches; never holds material.
        Certifier = 8 => "certifier",
        /// Buys, holds, splits, merges and sells material without processing it.
        Trader = 9 => "trader",
        /// A state body of one country (its registered country) that publishes export control
        /// rules, issues and revokes export licences and sets production quotas there
        /// (docs/COMPLIANCE.md, "Export controls"); never holds material.
        LicensingAuthority = 10 => "licensing_authority",
    }
);

named_enum!(
    /// A stage of production under total-quantity control (`set_quota` events).
    QuotaStage {
        /// Mining: `extract` events, counted in REO-equivalent grams.
        Mining = 0 => "mining",
        /// Separation: the outputs of `separation` transforms, in grams.
        Separation = 1 => "separation",
        /// Smelting: the outputs of `reduction` transforms (oxide to metal), in grams.
        Smelting = 2 => "smelting",
    }
);

named_enum!(
    /// A transformation of material (`transform` events).
    Process {
        /// Crushing, grinding, flotation: ore to concentrate.
        Beneficiation = 0 => "beneficiation",
        /// Acid or caustic cracking / leaching: concentrate to mixed compound.
        Cracking = 1 => "cracking",
        /// Solvent-extraction separation into individual or grouped oxides.
        Separation = 2 => "separation",
        /// Electrolytic or metallothermic reduction: oxide to metal.
        Reduction = 3 => "reduction",
        /// Melting metals into alloys (strip casting).
        Alloying = 4 => "alloying",
        /// Powder metallurgy: alloy to magnets.
        MagnetMaking = 5 => "magnet_making",
        /// Building magnets into components and products.
        Assembly = 6 => "assembly",
        /// Recovering rare earths from scrap and end-of-life material.
        Recycling = 7 => "recycling",
        /// Dividing a batch into batches of the same form.
        Split = 8 => "split",
        /// Pooling batches of one form into one batch.
        Merge = 9 => "merge",
        /// Grain boundary diffusion: a dysprosium or terbium metal or alloy is diffused into
        /// finished magnets along their grain boundaries (about 70 % less Dy/Tb than alloying
        /// it into the bulk). Takes magnets plus a metal or alloy; makes magnets.
        GrainBoundaryDiffusion = 10 => "grain_boundary_diffusion",
    }
);

named_enum!(
    /// What a registered site is.
    SiteKind {
        /// A mine: the only place `extract` happens.
        Mine = 0 => "mine",
        /// A processing plant, factory or warehouse.
        Plant = 1 => "plant",
    }
);

named_enum!(
    /// The kind of claim a `certify` event attaches to a batch.
    Claim {
        /// Composition or purity assay.
        Assay = 0 => "assay",
        /// Environmental, social and governance audit.
        EsgAudit = 1 => "esg_audit",
        /// Carbon footprint declaration.
        CarbonFootprint = 2 => "carbon_footprint",
        /// Independent audit of the stated origin.
        OriginAudit = 3 => "origin_audit",
    }
);

named_enum!(
    /// Why a batch was retired.
    RetireReason {
        /// Used up outside the ledger (e.g. in a product that is not tracked further).
        Consumed = 0 => "consumed",
        /// Lost.
        Lost = 1 => "lost",
        /// Destroyed.
        Destroyed = 2 => "destroyed",
        /// Sold outside the ledger.
        Sold = 3 => "sold",
    }
);

/// Roles that hold material: they may ship, receive, retire, split and merge. Everyone but the
/// authority and certifiers, who only keep the registry and attest.
pub const HOLDING_ROLES: &[Role] = &[
    Role::Miner,
    Role::Processor,
    Role::Separator,
    Role::Metallizer,
    Role::MagnetMaker,
    Role::Manufacturer,
    Role::Recycler,
    Role::Trader,
];

/// Roles that may `extract`.
pub const EXTRACTING_ROLES: &[Role] = &[Role::Miner];
/// Forms an `extract` may create: ore; concentrate (on-site beneficiation); mixed compound
/// (ion-adsorption clays leached in situ yield a mixed compound directly).
pub const EXTRACTED_FORMS: &[Form] = &[Form::Ore, Form::Concentrate, Form::MixedCompound];
/// Roles that may `certify`.
pub const CERTIFYING_ROLES: &[Role] = &[Role::Certifier];
/// Roles that may write registry events (`register_actor`, `update_actor`, `revoke_key`).
pub const REGISTRY_ROLES: &[Role] = &[Role::Authority];

/// One row of the process table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessRule {
    /// The process.
    pub process: Process,
    /// Forms every input must have.
    pub inputs: &'static [Form],
    /// Forms every output must have.
    pub outputs: &'static [Form],
    /// Whether all inputs and outputs must share one form (`split`, `merge`).
    pub preserves_form: bool,
    /// Roles that may run it (an actor needs at least one).
    pub roles: &'static [Role],
}

use Form::*;

const ALL_FORMS: &[Form] = &[
    Ore,
    Concentrate,
    MixedCompound,
    Oxide,
    Metal,
    Alloy,
    Magnet,
    Component,
    Product,
    Scrap,
];

/// The process table, one row per [`Process`] in declaration order.
pub const PROCESS_TABLE: &[ProcessRule] = &[
    ProcessRule {
        process: Process::Beneficiation,
        inputs: &[Ore],
        outputs: &[Concentrate, Scrap],
        preserves_form: false,
        roles: &[Role::Miner, Role::Processor],
    },
    ProcessRule {
        process: Process::Cracking,
        inputs: &[Concentrate],
        outputs: &[MixedCompound, Scrap],
        preserves_form: false,
        roles: &[Role::Processor, Role::Separator],
    },
    ProcessRule {
        process: Process::Separation,
        inputs: &[Concentrate, MixedCompound],
        outputs: &[Oxide, MixedCompound, Scrap],
        preserves_form: false,
        roles: &[Role::Separator],
    },
    ProcessRule {
        process: Process::Reduction,
        inputs: &[Oxide],
        outputs: &[Metal, Scrap],
        preserves_form: false,
        roles: &[Role::Metallizer],
    },
    ProcessRule {
        process: Process::Alloying,
        inputs: &[Metal, Alloy],
        outputs: &[Alloy, Scrap],
        preserves_form: false,
        roles: &[Role::Metallizer, Role::MagnetMaker],
    },
    ProcessRule {
        process: Process::MagnetMaking,
        inputs: &[Alloy, Metal],
        outputs: &[Magnet, Scrap],
        preserves_form: false,
        roles: &[Role::MagnetMaker],
    },
    ProcessRule {
        process: Process::Assembly,
        inputs: &[Magnet, Component, Product],
        outputs: &[Component, Product, Scrap],
        preserves_form: false,
        roles: &[Role::Manufacturer],
    },
    ProcessRule {
        process: Process::Recycling,
        inputs: &[Scrap, Product, Component, Magnet],
        outputs: &[Oxide, Metal, Alloy, Scrap],
        preserves_form: false,
        roles: &[Role::Recycler],
    },
    ProcessRule {
        process: Process::Split,
        inputs: ALL_FORMS,
        outputs: ALL_FORMS,
        preserves_form: true,
        roles: HOLDING_ROLES,
    },
    ProcessRule {
        process: Process::Merge,
        inputs: ALL_FORMS,
        outputs: ALL_FORMS,
        preserves_form: true,
        roles: HOLDING_ROLES,
    },
    ProcessRule {
        process: Process::GrainBoundaryDiffusion,
        inputs: &[Magnet, Metal, Alloy],
        outputs: &[Magnet, Scrap],
        preserves_form: false,
        roles: &[Role::MagnetMaker],
    },
];

impl Process {
    /// This process's row of [`PROCESS_TABLE`].
    pub fn rule(self) -> &'static ProcessRule {
        // The table has one row per process in declaration order (checked by a unit test).
        &PROCESS_TABLE[self as usize]
    }
}

/// Whether any of `roles` is in `allowed`.
pub fn any_role_in<'a>(roles: impl IntoIterator<Item = &'a Role>, allowed: &[Role]) -> bool {
    roles.into_iter().any(|r| allowed.contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_one_row_per_process_in_order() {
        assert_eq!(PROCESS_TABLE.len(), Process::ALL.len());
        for (i, p) in Process::ALL.iter().enumerate() {
            assert_eq!(PROCESS_TABLE[i].process, *p);
            assert_eq!(p.rule().process, *p);
        }
    }

    #[test]
    fn model_doc_lists_every_process() {
        let doc = include_str!("../../docs/MODEL.md");
        for rule in PROCESS_TABLE {
            let names = |forms: &[Form]| {
                if forms == ALL_FORMS {
                    "any (same form in and out)".to_owned()
                } else {
                    forms
                        .iter()
                        .map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            };
            let roles = if rule.roles == HOLDING_ROLES {
                "any holding role".to_owned()
            } else {
                rule.roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let row = format!(
                "| `{}` | {} | {} | {} |",
                rule.process,
                names(rule.inputs),
                names(rule.outputs),
                roles
            );
            assert!(doc.contains(&row), "docs/MODEL.md lacks the row:\n{row}");
        }
    }

    #[test]
    fn serde_names() {
        assert_eq!(serde_json::to_string(&Element::Nd).unwrap(), "\"Nd\"");
        assert_eq!(
            serde_json::to_string(&Form::MixedCompound).unwrap(),
            "\"mixed_compound\""
        );
        assert_eq!(
            serde_json::from_str::<Role>("\"magnet_maker\"").unwrap(),
            Role::MagnetMaker
        );
        assert!(serde_json::from_str::<Element>("\"nd\"").is_err());
        assert_eq!(Element::ALL.len(), 17);
        assert_eq!(Element::ALL.iter().filter(|e| e.is_heavy()).count(), 9);
        assert!(Element::Dy.is_scarce() && !Element::Nd.is_heavy());
    }
}
