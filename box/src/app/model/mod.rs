pub mod course;
pub mod quiz;
