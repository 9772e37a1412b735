//! The model's chat template: the Jinja text stored in the GGUF metadata
//! (`tokenizer.chat_template`), rendered as Hugging Face's `apply_chat_template` renders it
//! (`trim_blocks`, `lstrip_blocks`, Python string methods, `raise_exception`).

use provmark::{Error, Result};

/// One turn of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The turn's text.
    pub content: String,
}

impl Message {
    /// A user turn.
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: "user".into(),
            content: content.into(),
        }
    }

    /// A system turn.
    pub fn system(content: impl Into<String>) -> Self {
        Message {
            role: "system".into(),
            content: content.into(),
        }
    }
}

/// A compiled chat template.
///
/// ```
/// use provmark_candle::{ChatTemplate, Message};
/// let chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n\
///               {% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
/// let t = ChatTemplate::new(chatml, "<|im_start|>", "<|im_end|>")?;
/// assert_eq!(
///     t.render(&[Message::user("Hi")], true)?,
///     "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
/// );
/// # Ok::<(), provmark::Error>(())
/// ```
pub struct ChatTemplate {
    env: minijinja::Environment<'static>,
    bos: String,
    eos: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish_non_exhaustive()
    }
}

const NAME: &str = "chat";

fn template_error(e: &minijinja::Error) -> Error {
    Error::ModelFormat(format!("chat template: {e:#}"))
}

impl ChatTemplate {
    /// Compiles `source`; `bos` and `eos` are the strings the template sees as `bos_token`
    /// and `eos_token`.
    ///
    /// # Errors
    /// [`Error::ModelFormat`] when the template does not parse.
    pub fn new(source: &str, bos: &str, eos: &str) -> Result<Self> {
        let mut env = minijinja::Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, _> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        env.add_template_owned(NAME, source.to_owned())
            .map_err(|e| template_error(&e))?;
        Ok(ChatTemplate {
            env,
            bos: bos.into(),
            eos: eos.into(),
        })
    }

    /// The prompt text for `messages`; with `add_generation_prompt` it ends where the
    /// assistant's answer begins.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the template refuses the conversation (its
    /// `raise_exception`) or fails to render.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let t = self
            .env
            .get_template(NAME)
            .map_err(|e| template_error(&e))?;
        t.render(minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => &self.bos,
            eos_token => &self.eos,
        })
        .map_err(|e| Error::InvalidInput(format!("chat template: {e:#}")))
    }
}
