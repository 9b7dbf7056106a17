//! The domain's words as enums. [`vocabulary!`] declares an enum whose variants are stored in
//! SQLite and sent in JSON as the same lower-case words as before (so no data migration), with
//! the list of words, parsing that refuses naming the field and the allowed words, and rusqlite
//! `ToSql`/`FromSql`.

/// Declare a vocabulary enum: `vocabulary! { /// doc  pub enum Name { Variant = "word", ... } }`.
#[macro_export]
macro_rules! vocabulary {
    ($(#[$m:meta])* $vis:vis enum $name:ident { $($(#[$vm:meta])* $var:ident = $word:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $($(#[$vm])* #[serde(rename = $word)] $var),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$var),+];
            /// Every word, in declaration order.
            pub const WORDS: &'static [&'static str] = &[$($word),+];

            /// The word stored and sent for this value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$var => $word),+
                }
            }

            /// Parse a word exactly as stored; a refusal names `field` and lists the allowed
            /// words.
            pub fn parse_field(field: &str, word: &str) -> $crate::Result<Self> {
                word.parse()
                    .map_err(|_| $crate::Error::invalid(field, format!("must be one of {}", Self::WORDS.join(", "))))
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($word => Ok(Self::$var),)+
                    _ => Err(format!("{s:?} is not one of {}", Self::WORDS.join(", "))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                v.as_str()?
                    .parse()
                    .map_err(|e: String| rusqlite::types::FromSqlError::Other(e.into()))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::vocabulary! {
        /// A test vocabulary.
        pub enum Colour { Red = "red", DarkBlue = "dark_blue" }
    }

    #[test]
    fn words_round_trip_through_json_sql_and_text() {
        assert_eq!(Colour::WORDS, &["red", "dark_blue"]);
        assert_eq!(Colour::ALL, &[Colour::Red, Colour::DarkBlue]);
        assert_eq!(serde_json::to_value(Colour::DarkBlue).unwrap(), "dark_blue");
        assert_eq!("dark_blue".parse::<Colour>(), Ok(Colour::DarkBlue));
        assert!("Dark_Blue".parse::<Colour>().is_err(), "words are exact");
        let e = Colour::parse_field("colour", "green").unwrap_err();
        assert_eq!(e.to_string(), "colour: must be one of red, dark_blue");
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let back: Colour = c
            .query_row("SELECT ?1", [Colour::Red], |r| r.get(0))
            .unwrap();
        assert_eq!(back, Colour::Red);
        let bad: rusqlite::Result<Colour> = c.query_row("SELECT 'green'", [], |r| r.get(0));
        assert!(bad.is_err());
    }
}
