//! Code tables declared once.
//!
//! Reasons, decision kinds and signals are enums whose variants each carry a stable name (it
//! appears in logs, metric labels, rules files and persisted bans). Writing the variants, their
//! names and the list of all of them as three parallel lists lets them drift apart; this macro
//! generates all three (and an optional per-variant value) from one declaration, as ngx-rust's
//! `ngx_codes!` does for nginx's status codes.

/// Declares a fieldless enum and, from the same lines, `ALL` (declaration order, so
/// `ALL[x.index()] == x`), `as_str`, `parse` and `index`. With `: Type as method`, every variant
/// also carries a value `method()` returns.
macro_rules! code_table {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $vty:ty as $vfn:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal => $value:expr, )+
        }
    ) => {
        $crate::codes::code_table! {
            $(#[$meta])* $vis enum $name { $( $(#[$vmeta])* $variant = $text, )+ }
        }
        impl $name {
            /// This variant's value in the table that declares it.
            pub const fn $vfn(self) -> $vty {
                match self { $( $name::$variant => $value, )+ }
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        $vis enum $name { $( $(#[$vmeta])* $variant, )+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$( $name::$variant, )+];

            /// The stable name: what logs, metric labels and files say.
            pub const fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text, )+ }
            }

            /// The value whose [`as_str`](Self::as_str) is `s`.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $( $text => Some($name::$variant), )+ _ => None }
            }

            /// Position in [`ALL`](Self::ALL), for per-value counters without hashing.
            pub const fn index(self) -> usize {
                self as usize
            }
        }
    };
}

pub(crate) use code_table;

#[cfg(test)]
mod tests {
    code_table! {
        enum Fruit: u32 as weight {
            Apple = "apple" => 3,
            Pear = "pear" => 5,
        }
    }

    #[test]
    fn the_table_generates_names_order_and_values_from_one_declaration() {
        assert_eq!(Fruit::ALL, &[Fruit::Apple, Fruit::Pear]);
        assert_eq!(Fruit::Pear.as_str(), "pear");
        assert_eq!(Fruit::parse("apple"), Some(Fruit::Apple));
        assert_eq!(Fruit::parse("plum"), None);
        assert_eq!(Fruit::Pear.index(), 1);
        assert_eq!(Fruit::Pear.weight(), 5);
    }
}
